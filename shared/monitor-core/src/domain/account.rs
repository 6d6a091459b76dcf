//! Which accounts a tick scans, and how each is reached.

use super::ids::{AccountId, IdError};
use std::collections::BTreeSet;
use std::fmt;

/// The ARN of an IAM role to assume: `arn:<partition>:iam::<account>:role/<path/name>`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RoleArn {
    arn: String,
    account: AccountId,
}

impl RoleArn {
    pub fn parse(value: impl Into<String>) -> Result<Self, IdError> {
        let arn = value.into();
        let invalid = |arn: String| IdError {
            kind: "role ARN",
            value: arn,
            expected: "expected arn:<partition>:iam::<12-digit account>:role/<name>",
        };
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        let account = match parts[..] {
            ["arn", partition, "iam", "", account, resource]
                if !partition.is_empty()
                    && resource
                        .strip_prefix("role/")
                        .and_then(|path| path.rsplit('/').next())
                        .is_some_and(RoleName::is_valid)
                    && arn.len() <= 2048 =>
            {
                AccountId::parse(account)
            }
            _ => return Err(invalid(arn)),
        };
        match account {
            Ok(account) => Ok(Self { arn, account }),
            Err(_) => Err(invalid(arn)),
        }
    }

    /// The role `name` in `account`, in `partition` (`aws`, `aws-us-gov`, `aws-cn`).
    pub fn in_account(partition: &str, account: &AccountId, name: &RoleName) -> Self {
        Self {
            arn: format!("arn:{partition}:iam::{account}:role/{name}"),
            account: account.clone(),
        }
    }

    pub fn account(&self) -> &AccountId {
        &self.account
    }

    pub fn as_str(&self) -> &str {
        &self.arn
    }
}

impl fmt::Display for RoleArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.arn)
    }
}

/// The name of the role assumed in every account found in the organization.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RoleName(String);

impl RoleName {
    pub fn parse(value: impl Into<String>) -> Result<Self, IdError> {
        let value = value.into();
        if Self::is_valid(&value) {
            Ok(Self(value))
        } else {
            Err(IdError {
                kind: "role name",
                value,
                expected: "expected 1 to 64 letters, digits or +=,.@_-",
            })
        }
    }

    fn is_valid(name: &str) -> bool {
        (1..=64).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b))
    }
}

impl fmt::Display for RoleName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An organizational unit id, `ou-<root>-<suffix>`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OuId(String);

impl OuId {
    pub fn parse(value: impl Into<String>) -> Result<Self, IdError> {
        let value = value.into();
        let valid = value
            .strip_prefix("ou-")
            .and_then(|rest| rest.split_once('-'))
            .is_some_and(|(root, suffix)| {
                (4..=32).contains(&root.len())
                    && (8..=32).contains(&suffix.len())
                    && root
                        .bytes()
                        .chain(suffix.bytes())
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            });
        if valid {
            Ok(Self(value))
        } else {
            Err(IdError {
                kind: "organizational unit id",
                value,
                expected: "expected ou-<4 to 32 lowercase letters or digits>-<8 to 32 more>",
            })
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OuId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The external id passed on every AssumeRole: a guard against a confused
/// deputy, not a secret (AWS documents it as such).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalId(String);

impl ExternalId {
    pub fn parse(value: impl Into<String>) -> Result<Self, IdError> {
        let value = value.into();
        let valid = (2..=1224).contains(&value.len())
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+=,.@:/_-".contains(&b));
        if valid {
            Ok(Self(value))
        } else {
            Err(IdError {
                kind: "external id",
                // Not a secret, but there is no need to repeat it either.
                value: format!("({} characters)", value.len()),
                expected: "expected 2 to 1224 letters, digits or +=,.@:/_-",
            })
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How the monitor reaches an account.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Access {
    /// With the monitor's own credentials.
    Own,
    /// Through a role assumed in that account.
    Role(RoleArn),
}

/// An account a tick scans.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountTarget {
    pub account: AccountId,
    /// Its name in the organization, when the organization gives one.
    pub name: Option<String>,
    pub access: Access,
}

impl AccountTarget {
    pub fn own(account: AccountId) -> Self {
        Self {
            account,
            name: None,
            access: Access::Own,
        }
    }

    pub fn role(arn: RoleArn) -> Self {
        Self {
            account: arn.account().clone(),
            name: None,
            access: Access::Role(arn),
        }
    }
}

/// Which accounts to scan: roles named one by one, or every active account of
/// the organization with one role name, narrowed by the include and exclude
/// lists. Neither: the monitor's own account only.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountSelection {
    pub roles: Vec<RoleArn>,
    pub organization_role: Option<RoleName>,
    pub include_accounts: BTreeSet<AccountId>,
    pub exclude_accounts: BTreeSet<AccountId>,
    pub include_ous: BTreeSet<OuId>,
    pub exclude_ous: BTreeSet<OuId>,
    pub external_id: Option<ExternalId>,
}

/// A selection that cannot be used, naming the setting at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{setting}: {problem}")]
pub struct SelectionError {
    pub setting: &'static str,
    pub problem: String,
}

/// The names of the settings, in whatever form the caller reads them
/// (environment variables for the function, flags for the command).
#[derive(Debug, Clone, Copy)]
pub struct SelectionNames {
    pub roles: &'static str,
    pub organization_role: &'static str,
    pub include_accounts: &'static str,
    pub exclude_accounts: &'static str,
    pub include_ous: &'static str,
    pub exclude_ous: &'static str,
    pub external_id: &'static str,
}

impl SelectionNames {
    /// The function's environment variables.
    pub const ENVIRONMENT: SelectionNames = SelectionNames {
        roles: "ACCOUNT_ROLE_ARNS",
        organization_role: "ORGANIZATION_ROLE_NAME",
        include_accounts: "INCLUDE_ACCOUNTS",
        exclude_accounts: "EXCLUDE_ACCOUNTS",
        include_ous: "INCLUDE_OUS",
        exclude_ous: "EXCLUDE_OUS",
        external_id: "EXTERNAL_ID",
    };
}

/// The raw values of the settings: each list item as given.
#[derive(Debug, Clone, Default)]
pub struct RawSelection {
    pub roles: Vec<String>,
    pub organization_role: Option<String>,
    pub include_accounts: Vec<String>,
    pub exclude_accounts: Vec<String>,
    pub include_ous: Vec<String>,
    pub exclude_ous: Vec<String>,
    pub external_id: Option<String>,
}

/// Splits a comma-separated setting into its non-empty items.
pub fn list_items(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .collect()
}

impl AccountSelection {
    /// Whether the monitor scans only its own account.
    pub fn is_own_account_only(&self) -> bool {
        self.roles.is_empty() && self.organization_role.is_none()
    }

    pub fn parse(raw: RawSelection, names: SelectionNames) -> Result<Self, SelectionError> {
        fn each<T: Ord>(
            setting: &'static str,
            items: Vec<String>,
            parse: fn(String) -> Result<T, IdError>,
        ) -> Result<Vec<T>, SelectionError> {
            let mut parsed: Vec<T> = Vec::with_capacity(items.len());
            for item in items {
                let value = parse(item).map_err(|e| SelectionError {
                    setting,
                    problem: e.to_string(),
                })?;
                if parsed.contains(&value) {
                    return Err(SelectionError {
                        setting,
                        problem: "names the same item twice".into(),
                    });
                }
                parsed.push(value);
            }
            Ok(parsed)
        }
        let roles = each(names.roles, raw.roles, RoleArn::parse)?;
        let organization_role = raw
            .organization_role
            .map(RoleName::parse)
            .transpose()
            .map_err(|e| SelectionError {
                setting: names.organization_role,
                problem: e.to_string(),
            })?;
        let mut accounts_seen = BTreeSet::new();
        for role in &roles {
            if !accounts_seen.insert(role.account()) {
                return Err(SelectionError {
                    setting: names.roles,
                    problem: format!("names two roles in account {}", role.account()),
                });
            }
        }
        let selection = Self {
            include_accounts: each(names.include_accounts, raw.include_accounts, |v| {
                AccountId::parse(v)
            })?
            .into_iter()
            .collect(),
            exclude_accounts: each(names.exclude_accounts, raw.exclude_accounts, |v| {
                AccountId::parse(v)
            })?
            .into_iter()
            .collect(),
            include_ous: each(names.include_ous, raw.include_ous, OuId::parse)?
                .into_iter()
                .collect(),
            exclude_ous: each(names.exclude_ous, raw.exclude_ous, OuId::parse)?
                .into_iter()
                .collect(),
            external_id: raw
                .external_id
                .map(ExternalId::parse)
                .transpose()
                .map_err(|e| SelectionError {
                    setting: names.external_id,
                    problem: e.to_string(),
                })?,
            roles,
            organization_role,
        };
        if !selection.roles.is_empty() && selection.organization_role.is_some() {
            return Err(SelectionError {
                setting: names.organization_role,
                problem: format!(
                    "cannot be used with {}: name the roles, or discover the accounts",
                    names.roles
                ),
            });
        }
        if selection.organization_role.is_none()
            && !(selection.include_ous.is_empty() && selection.exclude_ous.is_empty())
        {
            let setting = if selection.include_ous.is_empty() {
                names.exclude_ous
            } else {
                names.include_ous
            };
            return Err(SelectionError {
                setting,
                problem: format!(
                    "organizational units select accounts only with {}",
                    names.organization_role
                ),
            });
        }
        if let Some(both) = selection
            .include_accounts
            .intersection(&selection.exclude_accounts)
            .next()
        {
            return Err(SelectionError {
                setting: names.exclude_accounts,
                problem: format!("account {both} is both included and excluded"),
            });
        }
        if selection.is_own_account_only() && selection.external_id.is_some() {
            return Err(SelectionError {
                setting: names.external_id,
                problem: format!(
                    "is used only when assuming roles ({} or {})",
                    names.roles, names.organization_role
                ),
            });
        }
        Ok(selection)
    }

    /// Whether the include and exclude lists of accounts keep `account`.
    pub fn keeps(&self, account: &AccountId) -> bool {
        (self.include_accounts.is_empty() || self.include_accounts.contains(account))
            && !self.exclude_accounts.contains(account)
    }

    /// The accounts named by role ARN (narrowed by the account lists), or the
    /// own account when the selection names none and discovers none.
    pub fn named_targets(&self, own: &AccountId) -> Vec<AccountTarget> {
        if self.is_own_account_only() {
            return vec![AccountTarget::own(own.clone())];
        }
        self.roles
            .iter()
            .filter(|r| self.keeps(r.account()))
            .map(|r| {
                if r.account() == own {
                    // The monitor's own account is read with its own credentials.
                    AccountTarget::own(own.clone())
                } else {
                    AccountTarget::role(r.clone())
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw() -> RawSelection {
        RawSelection::default()
    }

    fn parse(raw: RawSelection) -> Result<AccountSelection, SelectionError> {
        AccountSelection::parse(raw, SelectionNames::ENVIRONMENT)
    }

    fn account(id: &str) -> AccountId {
        AccountId::parse(id).unwrap()
    }

    #[test]
    fn reads_role_arns_of_any_partition_and_path() {
        for arn in [
            "arn:aws:iam::111122223333:role/HealthLakeMonitorReadOnly",
            "arn:aws-us-gov:iam::111122223333:role/ops/monitor",
            "arn:aws-cn:iam::111122223333:role/a+b=c,d.e@f_g-h",
        ] {
            let role = RoleArn::parse(arn).unwrap();
            assert_eq!(role.account().as_str(), "111122223333");
            assert_eq!(role.as_str(), arn);
        }
        for arn in [
            "",
            "arn:aws:iam::11112222333:role/short-account",
            "arn:aws:iam::111122223333:user/someone",
            "arn:aws:iam:us-east-1:111122223333:role/regional",
            "arn:aws:sts::111122223333:role/x",
            "arn:aws:iam::111122223333:role/",
            "arn:aws:iam::111122223333:role/bad name",
            "arn::iam::111122223333:role/x",
        ] {
            let err = RoleArn::parse(arn).unwrap_err();
            assert_eq!(err.kind, "role ARN", "{arn}");
        }
    }

    #[test]
    fn neither_roles_nor_an_organization_is_the_own_account() {
        let selection = parse(raw()).unwrap();
        assert!(selection.is_own_account_only());
        assert_eq!(
            selection.named_targets(&account("123456789012")),
            vec![AccountTarget::own(account("123456789012"))]
        );
    }

    #[test]
    fn named_roles_narrowed_by_the_account_lists_and_the_own_account_read_as_itself() {
        let selection = parse(RawSelection {
            roles: list_items(
                "arn:aws:iam::111111111111:role/r, arn:aws:iam::222222222222:role/r,\
                 arn:aws:iam::123456789012:role/r",
            ),
            exclude_accounts: list_items("222222222222"),
            external_id: Some("monitor-external-id".into()),
            ..raw()
        })
        .unwrap();
        let targets = selection.named_targets(&account("123456789012"));
        assert_eq!(
            targets,
            vec![
                AccountTarget::role(RoleArn::parse("arn:aws:iam::111111111111:role/r").unwrap()),
                AccountTarget::own(account("123456789012")),
            ]
        );
    }

    #[test]
    fn each_bad_setting_is_named_without_repeating_the_external_id() {
        let cases: Vec<(RawSelection, &str)> = vec![
            (
                RawSelection {
                    roles: list_items("arn:aws:iam::1:role/r"),
                    ..raw()
                },
                "ACCOUNT_ROLE_ARNS: invalid role ARN",
            ),
            (
                RawSelection {
                    roles: list_items(
                        "arn:aws:iam::111111111111:role/a,arn:aws:iam::111111111111:role/b",
                    ),
                    ..raw()
                },
                "ACCOUNT_ROLE_ARNS: names two roles in account 111111111111",
            ),
            (
                RawSelection {
                    roles: list_items("arn:aws:iam::111111111111:role/a"),
                    organization_role: Some("r".into()),
                    ..raw()
                },
                "ORGANIZATION_ROLE_NAME: cannot be used with ACCOUNT_ROLE_ARNS",
            ),
            (
                RawSelection {
                    organization_role: Some("no spaces".into()),
                    ..raw()
                },
                "ORGANIZATION_ROLE_NAME: invalid role name",
            ),
            (
                RawSelection {
                    include_ous: list_items("ou-ab12-cdef3456"),
                    ..raw()
                },
                "INCLUDE_OUS: organizational units select accounts only with ORGANIZATION_ROLE_NAME",
            ),
            (
                RawSelection {
                    organization_role: Some("r".into()),
                    exclude_ous: list_items("r-ab12"),
                    ..raw()
                },
                "EXCLUDE_OUS: invalid organizational unit id",
            ),
            (
                RawSelection {
                    organization_role: Some("r".into()),
                    include_accounts: list_items("111111111111"),
                    exclude_accounts: list_items("111111111111"),
                    ..raw()
                },
                "EXCLUDE_ACCOUNTS: account 111111111111 is both included and excluded",
            ),
            (
                RawSelection {
                    include_accounts: list_items("111111111111,111111111111"),
                    ..raw()
                },
                "INCLUDE_ACCOUNTS: names the same item twice",
            ),
            (
                RawSelection {
                    organization_role: Some("r".into()),
                    external_id: Some("secret value with spaces".into()),
                    ..raw()
                },
                "EXTERNAL_ID: invalid external id \"(24 characters)\"",
            ),
            (
                RawSelection {
                    external_id: Some("abcdef".into()),
                    ..raw()
                },
                "EXTERNAL_ID: is used only when assuming roles",
            ),
        ];
        for (raw, expected) in cases {
            let err = parse(raw).unwrap_err().to_string();
            assert!(
                err.starts_with(expected),
                "{err:?} should start with {expected:?}"
            );
            assert!(!err.contains("secret value"), "{err}");
        }
    }

    #[test]
    fn organization_role_arns_are_built_in_the_partition_given() {
        let name = RoleName::parse("HealthLakeMonitorReadOnly").unwrap();
        let arn = RoleArn::in_account("aws", &account("111122223333"), &name);
        assert_eq!(
            arn.as_str(),
            "arn:aws:iam::111122223333:role/HealthLakeMonitorReadOnly"
        );
        assert_eq!(RoleArn::parse(arn.as_str()).unwrap(), arn);
    }
}
