//! Who is calling: accounts, the roles tests allow or deny, and the
//! credentials the emulator's STS has issued.
//!
//! A request belongs to the account of its access key: a key issued by
//! AssumeRole belongs to the role's account, any other key to the default
//! account. Any well-formed role may be assumed, by anyone, without an
//! external id, unless a rule set through the admin routes says otherwise.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::RangeInclusive;

use chrono::{DateTime, TimeDelta, Utc};

use crate::auth::KnownKey;

/// The IAM user every key not issued by the emulator stands for.
const DEFAULT_USER: &str = "emulator";
const DEFAULT_USER_ID: &str = "AIDAEMULATORUSERID000";
/// IAM's default MaxSessionDuration of a role, and its bounds.
pub const DEFAULT_MAX_SESSION_SECONDS: u32 = 3600;
pub const MAX_SESSION_SECONDS: RangeInclusive<u32> = 3600..=43_200;
/// A session assumed with the credentials of another role lasts at most an hour.
const CHAINED_MAX_SECONDS: u32 = 3600;
const ROLE_NAME_CHARS: usize = 64;

/// Twelve digits.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AccountId(String);

impl AccountId {
    pub fn parse(value: &str) -> Result<AccountId, String> {
        if value.len() == 12 && value.bytes().all(|b| b.is_ascii_digit()) {
            Ok(AccountId(value.to_owned()))
        } else {
            Err(format!("an account id is 12 digits, not {value:?}"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `arn:<partition>:iam::<account>:role/<path/><name>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleArn {
    arn: String,
    partition: String,
    account: AccountId,
    name: String,
}

impl RoleArn {
    pub fn parse(arn: &str) -> Result<RoleArn, String> {
        let invalid =
            || format!("{arn:?} is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)");
        let mut parts = arn.splitn(6, ':');
        let (Some("arn"), Some(partition), Some("iam"), Some(""), Some(account), Some(resource)) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(invalid());
        };
        let partition_ok = partition == "aws"
            || partition.strip_prefix("aws-").is_some_and(|rest| {
                !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_lowercase() || b == b'-')
            });
        let account = AccountId::parse(account).map_err(|_| invalid())?;
        let path_and_name = resource.strip_prefix("role/").ok_or_else(invalid)?;
        let segments: Vec<&str> = path_and_name.split('/').collect();
        let name = segments.last().copied().unwrap_or_default();
        if !partition_ok
            || name.len() > ROLE_NAME_CHARS
            || !segments.iter().all(|segment| is_iam_name(segment))
        {
            return Err(invalid());
        }
        Ok(RoleArn {
            arn: arn.to_owned(),
            partition: partition.to_owned(),
            account,
            name: name.to_owned(),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.arn
    }

    pub fn account(&self) -> &AccountId {
        &self.account
    }
}

/// Characters IAM and STS allow in names: `[\w+=,.@-]+`, `\w` being ASCII.
pub fn is_iam_name(value: &str) -> bool {
    !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_+=,.@-".contains(&b))
}

/// What a test decided about one role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleRule {
    /// Every AssumeRole is AccessDenied.
    pub deny: bool,
    /// When set, AssumeRole must pass it or is AccessDenied.
    pub external_id: Option<String>,
    /// The longest DurationSeconds the role accepts.
    pub max_session_seconds: u32,
}

impl Default for RoleRule {
    fn default() -> RoleRule {
        RoleRule {
            deny: false,
            external_id: None,
            max_session_seconds: DEFAULT_MAX_SESSION_SECONDS,
        }
    }
}

/// A role's rule, its unique id and how its AssumeRole calls went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    pub arn: RoleArn,
    pub rule: RoleRule,
    /// `AROA…`, the first part of every AssumedRoleId.
    pub id: String,
    pub allowed: u64,
    pub denied: u64,
}

impl Role {
    fn new(arn: RoleArn) -> Role {
        Role {
            arn,
            rule: RoleRule::default(),
            id: format!("AROA{}", random_chars(BASE32, 17)),
            allowed: 0,
            denied: 0,
        }
    }
}

/// A validated AssumeRole request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssumeRole {
    pub role: RoleArn,
    pub session_name: String,
    pub external_id: Option<String>,
    pub duration_seconds: u32,
}

/// Credentials issued by AssumeRole, and whose they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
    /// Wall time: clients compare it to their own clock.
    pub expiration: DateTime<Utc>,
    pub account: AccountId,
    /// `arn:aws:sts::<account>:assumed-role/<role name>/<session name>`.
    pub arn: String,
    /// `AROA…:<session name>`.
    pub assumed_role_id: String,
    /// The role assumed.
    pub role_arn: String,
}

/// The principal behind a request's access key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub account: String,
    pub arn: String,
    pub user_id: String,
    /// Its key was issued by AssumeRole, so what it assumes is role chaining.
    pub assumed_role: bool,
}

/// Issued credentials, by access key or by the role they were issued for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Issued {
    Key(String),
    Role(RoleArn),
}

/// Why an AssumeRole gave no credentials.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("User: {caller} is not authorized to perform: sts:AssumeRole on resource: {role}")]
    Denied { caller: String, role: String },
    #[error("{0}")]
    Invalid(String),
}

#[derive(Debug)]
pub struct Iam {
    default_account: String,
    /// Access key to secret: the keys of the default user.
    static_keys: BTreeMap<String, String>,
    roles: BTreeMap<String, Role>,
    sessions: HashMap<String, Session>,
    suspended: BTreeSet<String>,
}

impl Iam {
    pub fn new(default_account: String, static_keys: BTreeMap<String, String>) -> Iam {
        Iam {
            default_account,
            static_keys,
            roles: BTreeMap::new(),
            sessions: HashMap::new(),
            suspended: BTreeSet::new(),
        }
    }

    pub fn default_account(&self) -> &str {
        &self.default_account
    }

    /// The secret of a key the emulator accepts, and for an issued key its
    /// token and expiry; `None` for a key it does not know.
    pub fn key(&self, access_key_id: &str) -> Option<KnownKey<'_>> {
        if let Some(session) = self.sessions.get(access_key_id) {
            return Some(KnownKey {
                secret_access_key: &session.secret_access_key,
                session: Some((&session.session_token, session.expiration)),
            });
        }
        self.static_keys.get(access_key_id).map(|secret| KnownKey {
            secret_access_key: secret,
            session: None,
        })
    }

    /// Makes the issued credentials `which` names expire at `now` (those
    /// already expired keep their Expiration); returns the keys it names.
    pub fn expire(&mut self, which: &Issued, now: DateTime<Utc>) -> Vec<String> {
        let mut expired: Vec<String> = self
            .sessions
            .values_mut()
            .filter(|session| match which {
                Issued::Key(key) => &session.access_key_id == key,
                Issued::Role(arn) => session.role_arn == arn.as_str(),
            })
            .map(|session| {
                session.expiration = session.expiration.min(now);
                session.access_key_id.clone()
            })
            .collect();
        expired.sort();
        expired
    }

    /// Whose key this is: an issued session's role, or the default user.
    pub fn caller(&self, access_key_id: &str) -> Caller {
        match self.sessions.get(access_key_id) {
            Some(session) => Caller {
                account: session.account.as_str().to_owned(),
                arn: session.arn.clone(),
                user_id: session.assumed_role_id.clone(),
                assumed_role: true,
            },
            None => Caller {
                account: self.default_account.clone(),
                arn: format!("arn:aws:iam::{}:user/{DEFAULT_USER}", self.default_account),
                user_id: DEFAULT_USER_ID.to_owned(),
                assumed_role: false,
            },
        }
    }

    /// Issues credentials for `request.role` unless a rule, or the
    /// suspension of its account, denies it; counts the call on the role
    /// either way. `now` is wall time.
    pub fn assume_role(
        &mut self,
        caller: &Caller,
        request: &AssumeRole,
        now: DateTime<Utc>,
    ) -> Result<&Session, Refusal> {
        let suspended = self.suspended.contains(request.role.account.as_str());
        let role = self
            .roles
            .entry(request.role.arn.clone())
            .or_insert_with(|| Role::new(request.role.clone()));
        let external_id_ok = role
            .rule
            .external_id
            .as_ref()
            .is_none_or(|wanted| request.external_id.as_ref() == Some(wanted));
        if suspended || role.rule.deny || !external_id_ok {
            role.denied += 1;
            return Err(Refusal::Denied {
                caller: caller.arn.clone(),
                role: request.role.arn.clone(),
            });
        }
        if caller.assumed_role && request.duration_seconds > CHAINED_MAX_SECONDS {
            return Err(Refusal::Invalid(
                "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.".to_owned(),
            ));
        }
        if request.duration_seconds > role.rule.max_session_seconds {
            return Err(Refusal::Invalid(
                "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
                    .to_owned(),
            ));
        }
        role.allowed += 1;
        let session = Session {
            access_key_id: format!("ASIA{}", random_chars(BASE32, 16)),
            secret_access_key: random_chars(BASE64, 40),
            session_token: random_chars(BASE64, 356),
            expiration: now + TimeDelta::seconds(i64::from(request.duration_seconds)),
            account: request.role.account.clone(),
            arn: format!(
                "arn:{}:sts::{}:assumed-role/{}/{}",
                request.role.partition,
                request.role.account.as_str(),
                request.role.name,
                request.session_name
            ),
            assumed_role_id: format!("{}:{}", role.id, request.session_name),
            role_arn: request.role.arn.clone(),
        };
        let key = session.access_key_id.clone();
        Ok(self.sessions.entry(key).or_insert(session))
    }

    /// Replaces the rule of a role.
    pub fn set_rule(&mut self, arn: RoleArn, rule: RoleRule) -> &Role {
        let role = self
            .roles
            .entry(arn.arn.clone())
            .or_insert_with(|| Role::new(arn));
        role.rule = rule;
        role
    }

    /// Every role with a rule or an AssumeRole call, by ARN.
    pub fn roles(&self) -> impl Iterator<Item = &Role> {
        self.roles.values()
    }

    /// A suspended account cannot be assumed into, and its credentials are
    /// refused.
    pub fn suspend(&mut self, account: &AccountId, suspended: bool) {
        if suspended {
            self.suspended.insert(account.as_str().to_owned());
        } else {
            self.suspended.remove(account.as_str());
        }
    }

    pub fn is_suspended(&self, account: &str) -> bool {
        self.suspended.contains(account)
    }

    /// The default account, the accounts of known roles and suspended ones.
    pub fn known_accounts(&self) -> BTreeSet<&str> {
        std::iter::once(self.default_account.as_str())
            .chain(self.roles.values().map(|role| role.arn.account.as_str()))
            .chain(self.suspended.iter().map(String::as_str))
            .collect()
    }

    /// Forgets rules, counts, suspensions and issued credentials.
    pub fn clear(&mut self) {
        self.roles.clear();
        self.sessions.clear();
        self.suspended.clear();
    }
}

const BASE32: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const BASE64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// `count` random characters of `alphabet` (at most 256 characters long).
fn random_chars(alphabet: &[u8], count: usize) -> String {
    std::iter::repeat_with(|| *uuid::Uuid::new_v4().as_bytes())
        .flatten()
        .take(count)
        .map(|byte| char::from(alphabet[usize::from(byte) % alphabet.len()]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULT: &str = "123456789012";

    fn role(arn: &str) -> RoleArn {
        RoleArn::parse(arn).unwrap()
    }

    fn request(arn: &str) -> AssumeRole {
        AssumeRole {
            role: role(arn),
            session_name: "monitor".into(),
            external_id: None,
            duration_seconds: 3600,
        }
    }

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_780_000_000, 0).unwrap()
    }

    #[test]
    fn role_arns_name_an_account_and_a_role_in_any_partition() {
        let arn = role("arn:aws:iam::210987654321:role/HealthLakeMonitor");
        assert_eq!(arn.account().as_str(), "210987654321");
        assert_eq!(arn.name, "HealthLakeMonitor");
        assert_eq!(arn.partition, "aws");
        let pathed = role("arn:aws-us-gov:iam::210987654321:role/service/team/Reader@x");
        assert_eq!(pathed.name, "Reader@x");
        assert_eq!(pathed.partition, "aws-us-gov");
        assert_eq!(role("arn:aws-cn:iam::000000000000:role/a").name, "a");
        for bad in [
            "",
            "arn:aws:iam::210987654321:user/bob",
            "arn:aws:iam::21098765432:role/x",
            "arn:aws:iam::2109876543210:role/x",
            "arn:aws:iam:us-east-1:210987654321:role/x",
            "arn:aws:sts::210987654321:role/x",
            "arn:AWS:iam::210987654321:role/x",
            "arn:aws-:iam::210987654321:role/x",
            "arn:aws:iam::210987654321:role/",
            "arn:aws:iam::210987654321:role/a//b",
            "arn:aws:iam::210987654321:role/has space",
            "arn:aws:iam::210987654321:role/semi;colon",
            &format!("arn:aws:iam::210987654321:role/{}", "n".repeat(65)),
            "arn:aws:iam::210987654321",
        ] {
            assert!(RoleArn::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn keys_not_issued_here_belong_to_the_default_user() {
        let iam = Iam::new(DEFAULT.into(), BTreeMap::new());
        let caller = iam.caller("AKIDEXAMPLE");
        assert_eq!(caller.account, DEFAULT);
        assert_eq!(caller.arn, "arn:aws:iam::123456789012:user/emulator");
        assert!(caller.user_id.starts_with("AIDA"));
        assert!(!caller.assumed_role);
    }

    #[test]
    fn assumed_credentials_belong_to_the_roles_account() {
        let mut iam = Iam::new(DEFAULT.into(), BTreeMap::new());
        let user = iam.caller("AKID");
        let session = iam
            .assume_role(
                &user,
                &request("arn:aws:iam::210987654321:role/path/Reader"),
                now(),
            )
            .unwrap()
            .clone();
        assert!(session.access_key_id.starts_with("ASIA"));
        assert_eq!(session.access_key_id.len(), 20);
        assert_eq!(session.secret_access_key.len(), 40);
        assert_eq!(session.expiration, now() + TimeDelta::hours(1));
        assert_eq!(
            session.arn,
            "arn:aws:sts::210987654321:assumed-role/Reader/monitor"
        );
        assert!(session.assumed_role_id.starts_with("AROA"));
        assert!(session.assumed_role_id.ends_with(":monitor"));

        let caller = iam.caller(&session.access_key_id);
        assert_eq!(caller.account, "210987654321");
        assert_eq!(caller.arn, session.arn);
        assert_eq!(caller.user_id, session.assumed_role_id);
        assert!(caller.assumed_role);

        let again = iam
            .assume_role(
                &user,
                &request("arn:aws:iam::210987654321:role/path/Reader"),
                now(),
            )
            .unwrap()
            .clone();
        assert_ne!(again.access_key_id, session.access_key_id);
        let role_id =
            |session: &Session| session.assumed_role_id.split(':').next().map(str::to_owned);
        assert_eq!(role_id(&again), role_id(&session), "a role keeps its id");
    }

    #[test]
    fn rules_deny_a_role_or_ask_for_an_external_id_and_calls_are_counted() {
        let mut iam = Iam::new(DEFAULT.into(), BTreeMap::new());
        let user = iam.caller("AKID");
        let denied = "arn:aws:iam::210987654321:role/Denied";
        let guarded = "arn:aws:iam::210987654321:role/Guarded";
        iam.set_rule(
            role(denied),
            RoleRule {
                deny: true,
                ..RoleRule::default()
            },
        );
        iam.set_rule(
            role(guarded),
            RoleRule {
                external_id: Some("secret-id".into()),
                ..RoleRule::default()
            },
        );

        let err = iam.assume_role(&user, &request(denied), now()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "User: arn:aws:iam::123456789012:user/emulator is not authorized to perform: \
             sts:AssumeRole on resource: arn:aws:iam::210987654321:role/Denied"
        );
        for external_id in [None, Some("other-id")] {
            let wrong = AssumeRole {
                external_id: external_id.map(Into::into),
                ..request(guarded)
            };
            assert!(matches!(
                iam.assume_role(&user, &wrong, now()),
                Err(Refusal::Denied { .. })
            ));
        }
        let right = AssumeRole {
            external_id: Some("secret-id".into()),
            ..request(guarded)
        };
        assert!(iam.assume_role(&user, &right, now()).is_ok());
        let free = AssumeRole {
            external_id: Some("ignored".into()),
            ..request("arn:aws:iam::210987654321:role/Free")
        };
        assert!(iam.assume_role(&user, &free, now()).is_ok());

        let counts: Vec<(&str, u64, u64)> = iam
            .roles()
            .map(|role| (role.arn.name.as_str(), role.allowed, role.denied))
            .collect();
        assert_eq!(
            counts,
            vec![("Denied", 0, 1), ("Free", 1, 0), ("Guarded", 1, 2)]
        );
    }

    #[test]
    fn a_suspended_account_is_denied_and_clear_forgets_everything() {
        let mut iam = Iam::new(DEFAULT.into(), BTreeMap::new());
        let user = iam.caller("AKID");
        let arn = "arn:aws:iam::210987654321:role/Reader";
        let issued = iam
            .assume_role(&user, &request(arn), now())
            .unwrap()
            .access_key_id
            .clone();
        let account = AccountId::parse("210987654321").unwrap();
        iam.suspend(&account, true);
        assert!(iam.is_suspended("210987654321"));
        assert!(matches!(
            iam.assume_role(&user, &request(arn), now()),
            Err(Refusal::Denied { .. })
        ));
        assert_eq!(
            iam.known_accounts().into_iter().collect::<Vec<_>>(),
            vec![DEFAULT, "210987654321"]
        );
        iam.suspend(&account, false);
        assert!(iam.assume_role(&user, &request(arn), now()).is_ok());

        iam.clear();
        assert_eq!(iam.roles().count(), 0);
        assert_eq!(iam.caller(&issued).account, DEFAULT);
        assert!(!iam.is_suspended("210987654321"));
    }

    #[test]
    fn durations_stay_within_the_roles_maximum_and_an_hour_when_chained() {
        let mut iam = Iam::new(DEFAULT.into(), BTreeMap::new());
        let user = iam.caller("AKID");
        let arn = "arn:aws:iam::210987654321:role/Reader";
        let long = AssumeRole {
            duration_seconds: 7200,
            ..request(arn)
        };
        assert!(matches!(
            iam.assume_role(&user, &long, now()),
            Err(Refusal::Invalid(message)) if message.contains("MaxSessionDuration")
        ));
        iam.set_rule(
            role(arn),
            RoleRule {
                max_session_seconds: 43_200,
                ..RoleRule::default()
            },
        );
        let session = iam.assume_role(&user, &long, now()).unwrap().clone();
        assert_eq!(session.expiration, now() + TimeDelta::hours(2));

        let chained = iam.caller(&session.access_key_id);
        assert!(matches!(
            iam.assume_role(&chained, &long, now()),
            Err(Refusal::Invalid(message)) if message.contains("role chaining")
        ));
        assert!(iam.assume_role(&chained, &request(arn), now()).is_ok());
        let counted = iam.roles().next().unwrap();
        assert_eq!((counted.allowed, counted.denied), (2, 0));
    }

    #[test]
    fn keys_are_known_by_their_secret_and_issued_ones_expire_on_request() {
        let keys = BTreeMap::from([("testing".to_owned(), "secret".to_owned())]);
        let mut iam = Iam::new(DEFAULT.into(), keys);
        assert_eq!(
            iam.key("testing"),
            Some(KnownKey {
                secret_access_key: "secret",
                session: None
            })
        );
        assert_eq!(iam.key("other"), None);

        let user = iam.caller("testing");
        let arn = "arn:aws:iam::210987654321:role/Reader";
        let first = iam
            .assume_role(&user, &request(arn), now())
            .unwrap()
            .clone();
        let second = iam
            .assume_role(&user, &request(arn), now())
            .unwrap()
            .clone();
        let other = iam
            .assume_role(
                &user,
                &request("arn:aws:iam::210987654321:role/Other"),
                now(),
            )
            .unwrap()
            .clone();
        assert_eq!(
            iam.key(&first.access_key_id),
            Some(KnownKey {
                secret_access_key: &first.secret_access_key,
                session: Some((&first.session_token, first.expiration)),
            })
        );

        let soon = now() + TimeDelta::seconds(10);
        assert_eq!(
            iam.expire(&Issued::Key(first.access_key_id.clone()), soon),
            vec![first.access_key_id.clone()]
        );
        let expiry = |iam: &Iam, key: &str| iam.key(key).unwrap().session.unwrap().1;
        assert_eq!(expiry(&iam, &first.access_key_id), soon);
        assert_eq!(expiry(&iam, &second.access_key_id), second.expiration);

        let mut by_role = iam.expire(&Issued::Role(role(arn)), now() + TimeDelta::seconds(20));
        by_role.sort();
        let mut expected = vec![first.access_key_id.clone(), second.access_key_id.clone()];
        expected.sort();
        assert_eq!(by_role, expected);
        assert_eq!(expiry(&iam, &first.access_key_id), soon, "never later");
        assert_eq!(expiry(&iam, &other.access_key_id), other.expiration);
        assert!(
            iam.expire(&Issued::Key("ASIANONE".into()), now())
                .is_empty()
        );

        iam.clear();
        assert_eq!(iam.key(&first.access_key_id), None);
        assert!(iam.key("testing").is_some(), "static keys survive a reset");
    }
}
