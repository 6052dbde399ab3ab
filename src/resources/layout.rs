//! Where things live in the server and runner pods: the contract between the builders, which mount volumes
//! at these paths, and the subcommands the operator binary runs inside those pods.

/// The data volume's mount point. Its root may hold `lost+found` (ext4 cloud disks), so the server's data
/// directory is a subdirectory of it.
pub const VOLUME_ROOT: &str = "/var/lib/mysql";
/// The server's data directory, created by the initialization, never by anything else.
pub const DATADIR: &str = "/var/lib/mysql/data";
/// Where the ConfigMap's my.cnf is mounted.
pub const CONFIG_DIR: &str = "/etc/mysql/mysqlinstance";
/// The server's only option file (`--defaults-file`), so nothing in the image's /etc/mysql applies.
pub const CONFIG_FILE: &str = "/etc/mysql/mysqlinstance/my.cnf";
/// Where the credentials Secret is mounted.
pub const CREDENTIALS_DIR: &str = "/etc/mysql/credentials";
/// Socket and pid file of the server.
pub const RUN_DIR: &str = "/var/run/mysqld";
/// The server's Unix socket.
pub const SOCKET: &str = "/var/run/mysqld/mysqld.sock";
/// The pid file of the server.
pub const PID_FILE: &str = "/var/run/mysqld/mysqld.pid";
/// Scratch space (the root file system is read-only).
pub const TMP_DIR: &str = "/tmp";
/// The directory the init container places the operator binary in.
pub const TOOLS_DIR: &str = "/mysqlinstance";
/// The operator binary as the server's image sees it, once placed.
pub const PLACED_BINARY: &str = "/mysqlinstance/mysqlinstance-operator";
/// The operator binary inside the operator image.
pub const OPERATOR_BINARY: &str = "/mysqlinstance-operator";
