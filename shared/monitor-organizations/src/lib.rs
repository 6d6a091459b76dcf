//! Which accounts a tick scans: the roles named one by one, or every active
//! account of the organization (`ListAccounts`, or the accounts under chosen
//! organizational units), narrowed by the include and exclude lists.

use aws_sdk_organizations::Client;
use aws_sdk_organizations::types::{Account, AccountStatus};
use monitor_core::domain::{AccountId, AccountSelection, AccountTarget, OuId, RoleArn};
use std::collections::{BTreeMap, BTreeSet};

/// The organization could not be read, so the accounts to scan are unknown.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("listing the organization's accounts failed ({operation}): {message}")]
pub struct DiscoveryError {
    pub operation: &'static str,
    pub message: String,
}

/// Organizational units followed below one named in a setting, at most: the
/// depth Organizations allows is five, so this only bounds a faulty answer.
const MAX_OU_DEPTH: usize = 5;

/// The accounts a tick scans, by account id.
///
/// Without an organization role, the accounts are the ones named by role (or
/// the own account alone). With one, every ACTIVE account of the organization
/// (or of the included units, at any depth) less the excluded units and
/// accounts; the own account among them is read with its own credentials and
/// every other through the role of that name in it.
pub async fn targets(
    selection: &AccountSelection,
    own: &AccountId,
    organizations: Option<&Client>,
) -> Result<Vec<AccountTarget>, DiscoveryError> {
    let Some(role_name) = &selection.organization_role else {
        return Ok(selection.named_targets(own));
    };
    let client = organizations.ok_or_else(|| DiscoveryError {
        operation: "ListAccounts",
        message: "no Organizations client was configured".into(),
    })?;
    let mut found: BTreeMap<String, Account> = BTreeMap::new();
    if selection.include_ous.is_empty() {
        for account in list_accounts(client).await? {
            found.insert(account.id().unwrap_or_default().to_owned(), account);
        }
    } else {
        for ou in &selection.include_ous {
            for account in accounts_under(client, ou).await? {
                found.insert(account.id().unwrap_or_default().to_owned(), account);
            }
        }
    }
    let mut excluded = BTreeSet::new();
    for ou in &selection.exclude_ous {
        for account in accounts_under(client, ou).await? {
            excluded.insert(account.id().unwrap_or_default().to_owned());
        }
    }
    let mut targets = Vec::new();
    for (id, account) in found {
        if excluded.contains(&id) || account.status() != Some(&AccountStatus::Active) {
            continue;
        }
        let Ok(account_id) = AccountId::parse(id.as_str()) else {
            tracing::warn!(
                account = id,
                "Organizations listed an account id that is not 12 digits; skipped"
            );
            continue;
        };
        if !selection.keeps(&account_id) {
            continue;
        }
        let mut target = if &account_id == own {
            AccountTarget::own(account_id)
        } else {
            let partition = account
                .arn()
                .and_then(|arn| arn.split(':').nth(1))
                .filter(|p| !p.is_empty())
                .unwrap_or("aws");
            AccountTarget::role(RoleArn::in_account(partition, &account_id, role_name))
        };
        target.name = account.name().map(str::to_owned);
        targets.push(target);
    }
    Ok(targets)
}

/// Every account of the organization, every page.
async fn list_accounts(client: &Client) -> Result<Vec<Account>, DiscoveryError> {
    let mut accounts = Vec::new();
    let mut pages = client.list_accounts().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| DiscoveryError {
            operation: "ListAccounts",
            message: monitor_aws::error_text(&e),
        })?;
        accounts.extend(page.accounts.unwrap_or_default());
    }
    Ok(accounts)
}

/// The accounts in `ou` and in every unit below it.
async fn accounts_under(client: &Client, ou: &OuId) -> Result<Vec<Account>, DiscoveryError> {
    let mut accounts = Vec::new();
    let mut level = vec![ou.as_str().to_owned()];
    for _ in 0..=MAX_OU_DEPTH {
        let mut below = Vec::new();
        for parent in &level {
            let mut pages = client
                .list_accounts_for_parent()
                .parent_id(parent)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| DiscoveryError {
                    operation: "ListAccountsForParent",
                    message: format!("{parent}: {}", monitor_aws::error_text(&e)),
                })?;
                accounts.extend(page.accounts.unwrap_or_default());
            }
            let mut pages = client
                .list_organizational_units_for_parent()
                .parent_id(parent)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| DiscoveryError {
                    operation: "ListOrganizationalUnitsForParent",
                    message: format!("{parent}: {}", monitor_aws::error_text(&e)),
                })?;
                below.extend(
                    page.organizational_units
                        .unwrap_or_default()
                        .into_iter()
                        .filter_map(|unit| unit.id),
                );
            }
        }
        if below.is_empty() {
            break;
        }
        level = below;
    }
    Ok(accounts)
}
