//! Which accounts a tick scans, discovered through AWS Organizations on moto's
//! server: every page of ListAccounts, active accounts only, the units named
//! and those below them, the include and exclude lists, and the own account
//! read with its own credentials.

use aws_config::{BehaviorVersion, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_organizations::Client;
use integration_tests::services::Moto;
use monitor_core::domain::{
    Access, AccountId, AccountSelection, AccountTarget, RawSelection, SelectionNames,
};
use std::collections::BTreeSet;

/// moto's management account.
const MANAGEMENT: &str = "123456789012";

fn client(endpoint: &str) -> Client {
    let config = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "testing", "testing", None, None, "test",
        )))
        .build();
    Client::new(&config)
}

struct Organization {
    client: Client,
    management: AccountId,
    root: String,
}

impl Organization {
    /// moto holds one organization per server, whatever the credentials, so
    /// a single test builds it and checks every selection against it.
    async fn create(moto: &Moto) -> anyhow::Result<Self> {
        let client = client(&moto.endpoint());
        client
            .create_organization()
            .feature_set(aws_sdk_organizations::types::OrganizationFeatureSet::All)
            .send()
            .await?;
        let root = client.list_roots().send().await?.roots.unwrap_or_default()[0]
            .id
            .clone()
            .unwrap();
        Ok(Self {
            client,
            management: AccountId::parse(MANAGEMENT)?,
            root,
        })
    }

    async fn unit(&self, parent: &str, name: &str) -> anyhow::Result<String> {
        Ok(self
            .client
            .create_organizational_unit()
            .parent_id(parent)
            .name(name)
            .send()
            .await?
            .organizational_unit
            .and_then(|u| u.id)
            .unwrap())
    }

    /// Creates an account (in `unit`, when given) and returns its id.
    async fn account(&self, name: &str, unit: Option<&str>) -> anyhow::Result<String> {
        let status = self
            .client
            .create_account()
            .account_name(name)
            .email(format!("{name}@example.com"))
            .send()
            .await?
            .create_account_status
            .unwrap();
        let id = status.account_id.unwrap();
        if let Some(unit) = unit {
            self.client
                .move_account()
                .account_id(&id)
                .source_parent_id(&self.root)
                .destination_parent_id(unit)
                .send()
                .await?;
        }
        Ok(id)
    }

    async fn targets(&self, raw: RawSelection) -> anyhow::Result<Vec<AccountTarget>> {
        let selection = AccountSelection::parse(
            RawSelection {
                organization_role: Some("HealthLakeMonitorReadOnly".into()),
                ..raw
            },
            SelectionNames::ENVIRONMENT,
        )?;
        Ok(
            monitor_organizations::targets(&selection, &self.management, Some(&self.client))
                .await?,
        )
    }
}

fn ids(targets: &[AccountTarget]) -> BTreeSet<String> {
    targets.iter().map(|t| t.account.to_string()).collect()
}

#[tokio::test]
async fn accounts_are_discovered_from_every_page_unit_and_list() -> anyhow::Result<()> {
    let moto = Moto::shared().await?;
    let org = Organization::create(moto).await?;

    // More than one page: ListAccounts gives at most 20 a page.
    let mut everyone = BTreeSet::from([MANAGEMENT.to_owned()]);
    for i in 0..22 {
        everyone.insert(org.account(&format!("member-{i:02}"), None).await?);
    }
    let closed = org.account("closed", None).await?;
    org.client
        .close_account()
        .account_id(&closed)
        .send()
        .await?;

    let workloads = org.unit(&org.root, "workloads").await?;
    let prod = org.unit(&workloads, "prod").await?;
    let sandbox = org.unit(&workloads, "sandbox").await?;
    let payments = org.account("payments", Some(&prod)).await?;
    let claims = org.account("claims", Some(&prod)).await?;
    let dev = org.account("dev", Some(&sandbox)).await?;
    let shared = org.account("shared", Some(&workloads)).await?;
    everyone.extend([&payments, &claims, &dev, &shared].map(String::clone));

    // Every active account, through its role; the management account as itself.
    let targets = org.targets(RawSelection::default()).await?;
    assert_eq!(ids(&targets), everyone, "the closed account is left out");
    for target in &targets {
        if target.account == org.management {
            assert_eq!(
                target.access,
                Access::Own,
                "the management account is read as itself"
            );
            continue;
        }
        let Access::Role(arn) = &target.access else {
            panic!("{target:?} should be reached through its role");
        };
        assert_eq!(
            arn.as_str(),
            format!(
                "arn:aws:iam::{}:role/HealthLakeMonitorReadOnly",
                target.account
            )
        );
        assert!(target.name.is_some(), "{target:?} carries its name");
    }
    let payments_target = targets
        .iter()
        .find(|t| t.account.as_str() == payments)
        .unwrap();
    assert_eq!(payments_target.name.as_deref(), Some("payments"));

    // Units at any depth, less the excluded ones and accounts.
    let raw = |include: &str, exclude: &str| RawSelection {
        include_ous: monitor_core::domain::list_items(include),
        exclude_ous: monitor_core::domain::list_items(exclude),
        ..RawSelection::default()
    };
    let set = |ids: &[&String]| ids.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    let under_workloads = org.targets(raw(&workloads, "")).await?;
    assert_eq!(
        ids(&under_workloads),
        set(&[&payments, &claims, &dev, &shared])
    );
    let without_sandbox = org.targets(raw(&workloads, &sandbox)).await?;
    assert_eq!(ids(&without_sandbox), set(&[&payments, &claims, &shared]));
    let narrowed = org
        .targets(RawSelection {
            exclude_accounts: vec![claims.clone()],
            ..raw(&prod, "")
        })
        .await?;
    assert_eq!(ids(&narrowed), set(&[&payments]));
    let only = org
        .targets(RawSelection {
            include_accounts: vec![dev.clone(), shared.clone()],
            ..RawSelection::default()
        })
        .await?;
    assert_eq!(ids(&only), set(&[&dev, &shared]));
    Ok(())
}

#[tokio::test]
async fn an_organization_that_cannot_be_read_is_a_named_error() -> anyhow::Result<()> {
    // A loopback port with nothing listening.
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let client = client(&format!("http://127.0.0.1:{port}"));
    let selection = AccountSelection::parse(
        RawSelection {
            organization_role: Some("HealthLakeMonitorReadOnly".into()),
            ..RawSelection::default()
        },
        SelectionNames::ENVIRONMENT,
    )?;
    let own = AccountId::parse(MANAGEMENT)?;
    let err = monitor_organizations::targets(&selection, &own, Some(&client))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("listing the organization's accounts failed (ListAccounts)"),
        "{err}"
    );
    Ok(())
}
