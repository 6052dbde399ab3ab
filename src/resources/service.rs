//! The client Service (`NAME`) and the headless Service (`NAME-headless`) the StatefulSet needs.

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::ResourceExt;

use super::metadata::{Component, child_metadata, selector_labels};
use crate::api::MySQLInstance;

/// The MySQL protocol port.
pub const MYSQL_PORT: i32 = 3306;

/// Name of the headless Service.
pub fn headless_service_name(instance: &MySQLInstance) -> String {
    format!("{}-headless", instance.name_any())
}

/// The ClusterIP Service applications connect to.
pub fn service(instance: &MySQLInstance) -> Service {
    build(instance, instance.name_any(), false)
}

/// The headless Service that gives the StatefulSet's pods stable DNS names.
pub fn headless_service(instance: &MySQLInstance) -> Service {
    build(instance, headless_service_name(instance), true)
}

fn build(instance: &MySQLInstance, name: String, headless: bool) -> Service {
    Service {
        metadata: child_metadata(instance, name, Component::Database, true),
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".to_owned()),
            cluster_ip: headless.then(|| "None".to_owned()),
            publish_not_ready_addresses: headless.then_some(true),
            selector: Some(selector_labels(instance)),
            ports: Some(vec![ServicePort {
                name: Some("mysql".to_owned()),
                port: MYSQL_PORT,
                target_port: Some(IntOrString::String("mysql".to_owned())),
                protocol: Some("TCP".to_owned()),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}
