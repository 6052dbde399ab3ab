//! The ConfigMap `NAME-config` holding my.cnf.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::ResourceExt;

use super::metadata::{Component, child_metadata};
use crate::api::MySQLInstance;

/// Key of my.cnf in the ConfigMap.
pub const MY_CNF_KEY: &str = "my.cnf";

/// Settings the operator relies on; `spec.config` may override any of them.
const DEFAULTS: &[(&str, &str)] = &[
    ("character-set-server", "utf8mb4"),
    ("collation-server", "utf8mb4_0900_ai_ci"),
    ("skip-name-resolve", "ON"),
    ("pid-file", "/var/run/mysqld/mysqld.pid"),
    ("socket", "/var/run/mysqld/mysqld.sock"),
];

/// Name of the ConfigMap.
pub fn config_map_name(instance: &MySQLInstance) -> String {
    format!("{}-config", instance.name_any())
}

/// The `[mysqld]` section built from the defaults and `spec.config`, one sorted `key = value` line each.
pub fn my_cnf(instance: &MySQLInstance) -> String {
    let mut settings: BTreeMap<&str, &str> = DEFAULTS.iter().copied().collect();
    settings.extend(instance.spec.config.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let mut cnf = String::from("[mysqld]\n");
    for (key, value) in settings {
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
