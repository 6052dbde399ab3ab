//! The programs of each database engine, and which engine the image a process runs in carries.
//!
//! The server pod's contract with its image is only "the engine's server binary and client tools are on
//! PATH": every subcommand that runs inside a database image (initialization, probes, backup, restore) finds
//! its programs here, so the dump tool always matches the server.

use std::path::{Path, PathBuf};

use crate::api::Engine;

impl Engine {
    /// The server binary.
    pub fn server(self) -> &'static str {
        match self {
            Engine::MySQL => "mysqld",
            Engine::MariaDB => "mariadbd",
        }
    }

    /// The command-line client.
    pub fn client(self) -> &'static str {
        match self {
            Engine::MySQL => "mysql",
            Engine::MariaDB => "mariadb",
        }
    }

    /// The logical dump tool.
    pub fn dump(self) -> &'static str {
        match self {
            Engine::MySQL => "mysqldump",
            Engine::MariaDB => "mariadb-dump",
        }
    }

    /// The engine whose server binary `has` finds. MariaDB images up to 10.x also carry a `mysqld` link to
    /// `mariadbd`, so `mariadbd` is looked for first.
    pub fn of_server(has: impl Fn(&str) -> bool) -> Option<Engine> {
        [Engine::MariaDB, Engine::MySQL].into_iter().find(|e| has(e.server()))
    }

    /// The engine whose client tools `has` finds: MariaDB's when `mariadb-dump` is there (MariaDB 11 images
    /// have no `mysqldump`), MySQL's otherwise.
    pub fn of_clients(has: impl Fn(&str) -> bool) -> Engine {
        if has(Engine::MariaDB.dump()) {
            Engine::MariaDB
        } else {
            Engine::MySQL
        }
    }
}

/// The first executable file named `program` in the directories of `PATH`.
pub fn find_in_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable(candidate))
}

/// Whether `program` is on `PATH`.
pub fn on_path(program: &str) -> bool {
    find_in_path(program).is_some()
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mariadb_images_are_told_from_mysql_images_by_their_server_binary() {
        let mariadb_10 = |p: &str| ["mariadbd", "mysqld", "mariadb", "mysql"].contains(&p);
        let mariadb_11 = |p: &str| ["mariadbd", "mariadb", "mariadb-dump"].contains(&p);
        let mysql = |p: &str| ["mysqld", "mysql", "mysqldump"].contains(&p);
        assert_eq!(Engine::of_server(mariadb_10), Some(Engine::MariaDB));
        assert_eq!(Engine::of_server(mariadb_11), Some(Engine::MariaDB));
        assert_eq!(Engine::of_server(mysql), Some(Engine::MySQL));
        assert_eq!(Engine::of_server(|_| false), None);
    }

    #[test]
    fn client_tools_follow_the_dump_tool_in_the_image() {
        assert_eq!(Engine::of_clients(|p| p == "mariadb-dump"), Engine::MariaDB);
        assert_eq!(Engine::of_clients(|p| p == "mysqldump"), Engine::MySQL);
        assert_eq!(Engine::MariaDB.dump(), "mariadb-dump");
        assert_eq!(Engine::MySQL.client(), "mysql");
    }

    #[test]
    fn path_lookup_finds_only_executables() {
        let dir = tempfile::tempdir().expect("tempdir");
        let tool = dir.path().join("mariadb-dump");
        std::fs::write(&tool, "#!/bin/sh\n").expect("write");
        assert!(!is_executable(&tool), "not executable yet");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        assert!(is_executable(&tool));
        assert!(!is_executable(dir.path()), "a directory is not a program");
    }
}
