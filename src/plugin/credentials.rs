//! `credentials NAME`: how to connect, read from the instance's Secret; passwords only on request.

use std::collections::BTreeMap;
use std::process::ExitCode;

use k8s_openapi::api::core::v1::Secret;
use mysqlinstance_operator::resources::{self, credential_keys as keys};

use super::{PluginError, Target};

/// What is printed in place of a password that was not asked for.
pub const HIDDEN: &str = "<hidden: use --show>";

#[derive(clap::Args, Debug)]
pub struct CredentialsArgs {
    /// The MySQLInstance.
    name: String,
    /// Print the password too.
    #[arg(long)]
    show: bool,
    /// Root's credentials instead of the application user's (the password still only with --show).
    #[arg(long)]
    root: bool,
}

pub async fn run(target: &Target, args: &CredentialsArgs) -> Result<ExitCode, PluginError> {
    let instance = target.instance(&args.name).await?;
    let secret_name = instance
        .status
        .as_ref()
        .and_then(|s| s.secret_name.clone())
        .unwrap_or_else(|| format!("{}-credentials", args.name));
    let mut data = read(target, &secret_name, &args.name).await?;
    // Root's password is in the root Secret, which applications never get; the rest is the same.
    let secret_name = if args.root {
        let root_name = resources::root_secret_name(&instance);
        let root = read(target, &root_name, &args.name).await?;
        data.extend(root.into_iter().filter(|(key, _)| key == keys::ROOT_PASSWORD));
        root_name
    } else {
        secret_name
    };
    print!("{}", render(&secret_name, &data, args.show, args.root)?);
    Ok(ExitCode::SUCCESS)
}

/// The decoded `data` of the Secret `secret_name` of instance `name`.
async fn read(target: &Target, secret_name: &str, name: &str) -> Result<BTreeMap<String, String>, PluginError> {
    let secret = target
        .api::<Secret>()
        .get_opt(secret_name)
        .await
        .map_err(|e| PluginError::api(format!("read the Secret {secret_name}"), e))?
        .ok_or_else(|| PluginError::SecretNotFound {
            secret: secret_name.to_owned(),
            name: name.to_owned(),
            namespace: target.namespace.clone(),
        })?;
    Ok(secret
        .data
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, String::from_utf8_lossy(&v.0).into_owned()))
        .collect())
}

/// The credentials in the Secret `secret` (its decoded `data`), the password masked unless `show`; root's password
/// only with both `root` and `show`.
pub fn render(secret: &str, data: &BTreeMap<String, String>, show: bool, root: bool) -> Result<String, PluginError> {
    let get = |key: &str| {
        data.get(key).cloned().ok_or_else(|| PluginError::SecretKeyMissing {
            secret: secret.to_owned(),
            key: key.to_owned(),
        })
    };
    let optional = |key: &str| {
        data.get(key)
            .cloned()
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| "-".to_owned())
    };
    let (username, password_key) = if root {
        ("root".to_owned(), keys::ROOT_PASSWORD)
    } else {
        let username = get(keys::USERNAME)?;
        if username.is_empty() {
            return Err(PluginError::Invalid(format!(
                "the Secret {secret} holds no application user (the instance has no spec.user): use --root"
            )));
        }
        (username, keys::PASSWORD)
    };
    let password = if show { get(password_key)? } else { HIDDEN.to_owned() };
    let rows = [
        ("username", username),
        ("password", password),
        ("database", optional(keys::DATABASE)),
        ("host", optional(keys::HOST)),
        ("port", optional(keys::PORT)),
    ];
    Ok(rows
        .iter()
        .map(|(label, value)| format!("{:<10}{value}\n", format!("{label}:")))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> BTreeMap<String, String> {
        [
            ("username", "app"),
            ("password", "s3cret-app"),
            ("root-password", "s3cret-root"),
            ("database", "shop"),
            ("host", "db.shop.svc"),
            ("port", "3306"),
            ("client.cnf", "[client]\nuser = root\npassword = \"s3cret-root\"\n"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    #[test]
    fn passwords_are_hidden_unless_asked_for() {
        let text = render("db-credentials", &data(), false, false).expect("renders");
        assert_eq!(
            text,
            "username: app\npassword: <hidden: use --show>\ndatabase: shop\nhost:     db.shop.svc\nport:     3306\n"
        );
        let root = render("db-credentials", &data(), false, true).expect("renders");
        assert!(
            root.starts_with("username: root\npassword: <hidden: use --show>\n"),
            "{root}"
        );
        for text in [text, root] {
            assert!(!text.contains("s3cret"), "{text}");
        }
    }

    #[test]
    fn show_prints_exactly_the_password_asked_for() {
        let app = render("db-credentials", &data(), true, false).expect("renders");
        assert!(app.contains("password: s3cret-app\n"), "{app}");
        assert!(!app.contains("s3cret-root"), "never root's without --root: {app}");
        let root = render("db-credentials", &data(), true, true).expect("renders");
        assert!(
            root.contains("password: s3cret-root\n") && !root.contains("s3cret-app"),
            "{root}"
        );
    }

    #[test]
    fn a_secret_without_the_keys_is_named() {
        let mut partial = data();
        partial.remove("password");
        let error = render("db-credentials", &partial, true, false).expect_err("no password key");
        assert_eq!(
            error.to_string(),
            "the Secret db-credentials has no key password: it was not made by the operator, or was edited"
        );
        assert!(
            render("db-credentials", &partial, false, false).is_ok(),
            "hidden needs no key"
        );
        partial.insert("username".into(), String::new());
        let error = render("db-credentials", &partial, false, false).expect_err("no user");
        assert!(error.to_string().contains("use --root"), "{error}");
    }
}
