//! The ConfigMap `NAME-config` holding my.cnf.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::ResourceExt;

use super::layout::{DATADIR, PID_FILE, SOCKET, TMP_DIR};
use super::metadata::{Component, child_metadata};
use super::service::MYSQL_PORT;
use crate::api::{Engine, MySQLInstance};

/// Key of my.cnf in the ConfigMap.
pub const MY_CNF_KEY: &str = "my.cnf";

/// Defaults that `spec.config` may override.
fn defaults(engine: Engine) -> [(&'static str, &'static str); 3] {
    let collation = match engine {
        Engine::MySQL => "utf8mb4_0900_ai_ci",
        // MariaDB has no utf8mb4_0900_ai_ci (and refuses to start with it).
        Engine::MariaDB => "utf8mb4_unicode_ci",
    };
    [
        ("character-set-server", "utf8mb4"),
        ("collation-server", collation),
        ("skip-name-resolve", "ON"),
    ]
}

/// Name of the ConfigMap.
pub fn config_map_name(instance: &MySQLInstance) -> String {
    format!("{}-config", instance.name_any())
}

/// The `[mysqld]` section: the paths the pod relies on (the schema refuses them in `spec.config`), then the
/// defaults and `spec.config`, one sorted `key = value` line each.
pub fn my_cnf(instance: &MySQLInstance) -> String {
    let port = MYSQL_PORT.to_string();
    let fixed = [
        ("datadir", DATADIR),
        ("socket", SOCKET),
        ("pid-file", PID_FILE),
        ("port", port.as_str()),
        ("tmpdir", TMP_DIR),
    ];
    let mut settings: BTreeMap<&str, &str> = defaults(instance.spec.engine).into_iter().collect();
    settings.extend(instance.spec.config.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let mut cnf = String::from("[mysqld]\n");
    for (key, value) in fixed.into_iter().chain(settings) {
        cnf.push_str(&format!("{key} = {value}\n"));
    }
    cnf
}

/// The ConfigMap.
pub fn config_map(instance: &MySQLInstance) -> ConfigMap {
    ConfigMap {
        metadata: child_metadata(instance, config_map_name(instance), Component::Database, true),
        data: Some(BTreeMap::from([(MY_CNF_KEY.to_owned(), my_cnf(instance))])),
        ..ConfigMap::default()
    }
}
