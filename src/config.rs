//! Server configuration: command-line flags, each with an environment variable.

use std::net::SocketAddr;

use axum::http::uri::Authority;

/// Days audit events are kept by default.
pub const DEFAULT_AUDIT_RETENTION_DAYS: u32 = 365;

/// The database used when none is named: `keyward.db` in the working
/// directory, created if missing.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://keyward.db?mode=rwc";

/// How `keyward serve` is configured.
#[derive(Clone, Debug, clap::Args)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "KEYWARD_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Database URL: `sqlite://…` (embedded) or `postgres://…`.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = DEFAULT_DATABASE_URL,
        hide_env_values = true
    )]
    pub database_url: String,

    /// Do not apply pending migrations at start-up: refuse to start unless
    /// the database's migrations are exactly this keyward's (for
    /// deployments that run `keyward migrate` as a step of their own).
    #[arg(long, env = "KEYWARD_NO_MIGRATE",
          value_parser = clap::builder::BoolishValueParser::new())]
    pub no_migrate: bool,

    /// Public base URL of this server (e.g. `https://keys.example.com`), used to
    /// build project endpoints. Defaults to `http://` + the request's Host.
    #[arg(long, env = "KEYWARD_PUBLIC_URL", value_parser = parse_public_url)]
    pub public_url: Option<String>,

    /// Longest lifetime of a new API key, in days: later `expiresAt` values
    /// are refused, and keys created without one get this lifetime. Unset,
    /// keys may live forever.
    #[arg(long, env = "KEYWARD_MAX_KEY_LIFETIME_DAYS",
          value_parser = clap::value_parser!(u32).range(1..=36_500))]
    pub max_key_lifetime_days: Option<u32>,

    /// When to warn before a key expires (KEY_EXPIRING events in the trail,
    /// the `keyEvents` subscription and webhooks): a comma-separated list of
    /// durations such as `7d,1d` or `12h,30m,45s`; `none` for no warnings.
    #[arg(long, env = "KEYWARD_KEY_EXPIRY_WARNINGS",
          default_value = crate::expiry_warnings::DEFAULT)]
    pub key_expiry_warnings: crate::expiry_warnings::ExpiryWarnings,

    /// How long audit events are kept, in days; older ones are pruned at
    /// start-up and hourly.
    #[arg(long, env = "KEYWARD_AUDIT_RETENTION_DAYS", default_value_t = DEFAULT_AUDIT_RETENTION_DAYS,
          value_parser = clap::value_parser!(u32).range(1..=36_500))]
    pub audit_retention_days: u32,

    /// Address of a separate listener serving Prometheus metrics at
    /// `/metrics` (e.g. `127.0.0.1:9464`). Off by default, so that the
    /// API's port never exposes them.
    #[arg(long, env = "KEYWARD_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,

    #[command(flatten)]
    pub database: DatabaseOptions,

    #[command(flatten)]
    pub limits: Limits,

    #[command(flatten)]
    pub hashing: HashingConfig,

    #[command(flatten)]
    pub webhooks: WebhookOptions,

    #[command(flatten)]
    pub sessions: SessionOptions,

    #[command(flatten)]
    pub sign_in: SignInOptions,

    #[command(flatten)]
    pub usage: UsageOptions,
}

/// Whether keys' authentications are counted over time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum UsageCounting {
    On,
    Off,
}

/// Usage over time (`ApiKey.usage`, `Project.usage`, `recentClients`):
/// whether it is counted, and how long each bucket width is kept.
#[derive(Clone, Debug, clap::Args)]
pub struct UsageOptions {
    /// Count every authentication of a key by outcome (`on`), or nothing
    /// (`off`: usage and recent clients stay as they are).
    #[arg(
        long = "usage-counting",
        env = "KEYWARD_USAGE_COUNTING",
        value_enum,
        default_value = "on"
    )]
    pub counting: UsageCounting,

    /// How long per-minute usage buckets are kept, in hours.
    #[arg(long = "usage-minute-retention-hours", env = "KEYWARD_USAGE_MINUTE_RETENTION_HOURS",
          default_value_t = 48, value_parser = clap::value_parser!(u32).range(1..=8_760))]
    pub minute_retention_hours: u32,

    /// How long per-hour usage buckets are kept, in days.
    #[arg(long = "usage-hour-retention-days", env = "KEYWARD_USAGE_HOUR_RETENTION_DAYS",
          default_value_t = 90, value_parser = clap::value_parser!(u32).range(1..=3_650))]
    pub hour_retention_days: u32,

    /// How long per-day usage buckets are kept, in days.
    #[arg(long = "usage-day-retention-days", env = "KEYWARD_USAGE_DAY_RETENTION_DAYS",
          default_value_t = 730, value_parser = clap::value_parser!(u32).range(1..=36_500))]
    pub day_retention_days: u32,

    /// The clock usage buckets are counted and pruned by: the system's,
    /// unless a test sets one.
    #[arg(skip)]
    pub clock: crate::clock::Clock,
}

impl Default for UsageOptions {
    fn default() -> Self {
        Self {
            counting: UsageCounting::On,
            minute_retention_hours: 48,
            hour_retention_days: 90,
            day_retention_days: 730,
            clock: crate::clock::Clock::System,
        }
    }
}

/// Where signing in may lead, and which hosts one session covers: keyward
/// as the sign-in gate of other tools (see README, "Single sign-on").
#[derive(Clone, Debug, Default, clap::Args)]
pub struct SignInOptions {
    /// Hosts besides keyward's own that a sign-in may return to
    /// (`return_to`), comma-separated `host` or `host:port`: the tools
    /// behind the gate. Any other `return_to` lands on keyward's console.
    #[arg(long = "sign-in-return-hosts", env = "KEYWARD_SIGN_IN_RETURN_HOSTS",
          value_delimiter = ',', value_parser = parse_return_host)]
    pub return_hosts: Vec<String>,

    /// The session cookie's `Domain` (e.g. `example.com`), so that one
    /// sign-in covers the tools' hosts under it; by default the cookie is
    /// keyward's host's alone.
    #[arg(long = "session-cookie-domain", env = "KEYWARD_SESSION_COOKIE_DOMAIN",
          value_parser = parse_cookie_domain)]
    pub cookie_domain: Option<String>,
}

/// A `host` or `host:port`, kept in lower case.
fn parse_return_host(raw: &str) -> Result<String, String> {
    let host = raw.trim().to_ascii_lowercase();
    let valid = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
    if valid {
        Ok(host)
    } else {
        Err(format!("{raw:?} is not a host or host:port"))
    }
}

/// A cookie domain: a host name (a leading dot is dropped, as browsers do).
fn parse_cookie_domain(raw: &str) -> Result<String, String> {
    let domain = raw.trim().trim_start_matches('.').to_ascii_lowercase();
    let valid = !domain.is_empty()
        && domain
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-'));
    if valid {
        Ok(domain)
    } else {
        Err(format!("{raw:?} is not a domain name"))
    }
}

/// How long a browser session (the `keyward_session` cookie) lasts.
#[derive(Clone, Copy, Debug, clap::Args)]
pub struct SessionOptions {
    /// A session ends after this long without a request (e.g. `30m`, `8h`;
    /// units s, m, h, d).
    #[arg(long = "session-idle-timeout", env = "KEYWARD_SESSION_IDLE_TIMEOUT",
          default_value = "8h", value_parser = parse_duration)]
    pub idle_timeout: std::time::Duration,

    /// A session ends this long after sign-in, however active (e.g. `24h`,
    /// `7d`; units s, m, h, d).
    #[arg(long = "session-lifetime", env = "KEYWARD_SESSION_LIFETIME",
          default_value = "24h", value_parser = parse_duration)]
    pub lifetime: std::time::Duration,
}

impl Default for SessionOptions {
    fn default() -> Self {
        Self {
            idle_timeout: std::time::Duration::from_secs(8 * 3600),
            lifetime: std::time::Duration::from_secs(24 * 3600),
        }
    }
}

/// A duration written as a whole number and a unit: `90s`, `30m`, `8h`,
/// `7d`; between one second and a year.
fn parse_duration(raw: &str) -> Result<std::time::Duration, String> {
    let unit_at = raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len());
    let (number, unit) = raw.split_at(unit_at);
    let seconds_per_unit = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => {
            return Err(format!(
                "{raw:?} is not a duration: write e.g. 90s, 30m, 8h or 7d"
            ));
        }
    };
    let seconds = number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(seconds_per_unit))
        .filter(|s| (1..=365 * 86_400).contains(s))
        .ok_or_else(|| format!("{raw:?} must be between 1s and 365d"))?;
    Ok(std::time::Duration::from_secs(seconds))
}

/// Where webhooks may be sent, and how long a delivery is retried.
#[derive(Clone, Copy, Debug, clap::Args)]
pub struct WebhookOptions {
    /// Lets webhooks reach loopback, private and link-local addresses (and
    /// `localhost`): for receivers on this host or network. Off, such URLs
    /// are refused when saved and at every delivery (SSRF protection).
    #[arg(
        long = "webhook-allow-private-networks",
        env = "KEYWARD_WEBHOOK_ALLOW_PRIVATE_NETWORKS",
        default_value_t = false
    )]
    pub allow_private_networks: bool,

    /// How long a webhook delivery is retried after its first attempt, in
    /// hours, with exponential backoff; then it is marked failed.
    #[arg(long = "webhook-retry-hours", env = "KEYWARD_WEBHOOK_RETRY_HOURS",
          default_value_t = 24, value_parser = clap::value_parser!(u32).range(1..=720))]
    pub retry_hours: u32,

    /// Fixed wait between attempts, in milliseconds, instead of the
    /// exponential backoff: for tests only.
    #[arg(long = "webhook-retry-delay-ms", hide = true)]
    pub retry_delay_ms: Option<u64>,

    /// How long one attempt may take, in milliseconds, instead of 10 s: for
    /// tests only (a receiver that never answers). At most 20 s, well inside
    /// the 30 s lease a claimed delivery has, so that no other replica
    /// attempts it meanwhile.
    #[arg(long = "webhook-timeout-ms", hide = true,
          value_parser = clap::value_parser!(u64).range(1..=20_000))]
    pub timeout_ms: Option<u64>,
}

impl Default for WebhookOptions {
    fn default() -> Self {
        Self {
            allow_private_networks: false,
            retry_hours: 24,
            retry_delay_ms: None,
            timeout_ms: None,
        }
    }
}

/// Protection against brute force and resource exhaustion.
#[derive(Clone, Debug, clap::Args)]
pub struct Limits {
    /// Failed authentications allowed per access key (or admin username) per
    /// window; past it, requests naming it get 429 RATE_LIMITED, right secret
    /// or not, until the window ends.
    #[arg(long, env = "KEYWARD_AUTH_FAILURES_PER_KEY", default_value_t = 20)]
    pub auth_failures_per_key: u32,

    /// Failed authentications allowed per client address per window; past it,
    /// that address can only use credentials already verified.
    #[arg(long, env = "KEYWARD_AUTH_FAILURES_PER_ADDRESS", default_value_t = 100)]
    pub auth_failures_per_address: u32,

    /// Length of the failure window, in seconds.
    #[arg(long, env = "KEYWARD_AUTH_FAILURE_WINDOW_SECS", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub auth_failure_window_secs: u64,

    /// Pause before answering a throttled request, in milliseconds, so that a
    /// flood of them ties up (capped) connections instead of CPU.
    #[arg(long, env = "KEYWARD_AUTH_THROTTLE_DELAY_MS", default_value_t = 1_000)]
    pub auth_throttle_delay_ms: u64,

    /// Address of a reverse proxy whose `X-Forwarded-For` is believed
    /// (repeatable). Without it, the client address is the socket's peer.
    #[arg(
        long = "trusted-proxy",
        env = "KEYWARD_TRUSTED_PROXIES",
        value_delimiter = ','
    )]
    pub trusted_proxies: Vec<std::net::IpAddr>,

    /// Browser origin allowed to call the API cross-origin (repeatable, e.g.
    /// `https://console.example.com`). None by default.
    #[arg(
        long = "cors-origin",
        env = "KEYWARD_CORS_ORIGINS",
        value_delimiter = ','
    )]
    pub cors_origins: Vec<String>,

    /// Most connections served at once; further clients wait to be accepted.
    /// Open WebSockets have a cap of the same size of their own (503 past
    /// it), so that long-lived sockets cannot starve the API of connections.
    #[arg(long, env = "KEYWARD_MAX_CONNECTIONS", default_value_t = 1024,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,

    /// Most connections one client address may hold at once; more are
    /// closed as soon as they are accepted. Defaults to a quarter of
    /// `--max-connections`, so that no one address, silent connections
    /// included, can take every slot. The same share caps the WebSockets
    /// one client address holds open (429 past it; behind a trusted proxy,
    /// per client it reports). Trusted proxies' own connections are not
    /// capped.
    #[arg(long, env = "KEYWARD_MAX_CONNECTIONS_PER_ADDRESS",
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections_per_address: Option<u32>,

    /// Longest a request may take, in milliseconds, before it is answered
    /// with 408 (slow clients included).
    #[arg(long, env = "KEYWARD_REQUEST_TIMEOUT_MS", default_value_t = 30_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub request_timeout_ms: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            auth_failures_per_key: 20,
            auth_failures_per_address: 100,
            auth_failure_window_secs: 60,
            auth_throttle_delay_ms: 1_000,
            trusted_proxies: Vec::new(),
            cors_origins: Vec::new(),
            max_connections: 1024,
            max_connections_per_address: None,
            request_timeout_ms: 30_000,
        }
    }
}

impl Limits {
    /// The per-address connection cap in force (see
    /// `max_connections_per_address`).
    pub fn connections_per_address(&self) -> u32 {
        self.max_connections_per_address
            .unwrap_or(self.max_connections / 4)
            .clamp(1, self.max_connections)
    }
}

/// Connection pool and timeouts of the database.
#[derive(Clone, Copy, Debug, clap::Args)]
pub struct DatabaseOptions {
    /// Most database connections this server opens.
    #[arg(long, env = "KEYWARD_DB_MAX_CONNECTIONS", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub db_max_connections: u32,

    /// How long to wait for a database connection, in milliseconds: past it a
    /// request fails with INTERNAL instead of hanging while the database is away.
    #[arg(long, env = "KEYWARD_DB_CONNECT_TIMEOUT_MS", default_value_t = 3_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub db_connect_timeout_ms: u64,

    /// Longest a statement may run, in milliseconds (PostgreSQL
    /// `statement_timeout`; on SQLite, how long a write waits for the lock).
    /// keyward also gives up on its side past it (plus the connect timeout
    /// when the statement needs a connection), so a database that stops
    /// answering fails requests with INTERNAL instead of hanging them.
    #[arg(long, env = "KEYWARD_DB_STATEMENT_TIMEOUT_MS", default_value_t = 5_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub db_statement_timeout_ms: u64,
}

impl Default for DatabaseOptions {
    fn default() -> Self {
        Self {
            db_max_connections: 10,
            db_connect_timeout_ms: 3_000,
            db_statement_timeout_ms: 5_000,
        }
    }
}

/// argon2id cost of newly stored secrets and passwords. Stored hashes carry
/// their own parameters, so changing these never invalidates existing keys.
#[derive(Clone, Copy, Debug, clap::Args)]
pub struct HashingConfig {
    /// argon2id memory cost in KiB (OWASP minimum: 19456).
    #[arg(long, env = "KEYWARD_ARGON2_MEMORY_KIB", default_value_t = 19_456)]
    pub argon2_memory_kib: u32,

    /// argon2id iterations (OWASP minimum with 19456 KiB: 2).
    #[arg(long, env = "KEYWARD_ARGON2_ITERATIONS", default_value_t = 2)]
    pub argon2_iterations: u32,

    /// argon2id parallelism.
    #[arg(long, env = "KEYWARD_ARGON2_PARALLELISM", default_value_t = 1)]
    pub argon2_parallelism: u32,

    /// Threads that run argon2, hence most computations at once (each holds
    /// the memory cost); further verifications wait their turn.
    #[arg(long, env = "KEYWARD_ARGON2_MAX_CONCURRENT", default_value_t = 2,
          value_parser = clap::value_parser!(u32).range(1..1024))]
    pub argon2_max_concurrent: u32,
}

impl HashingConfig {
    /// The OWASP minimum, which is also the default.
    pub const OWASP_MINIMUM: Self = Self {
        argon2_memory_kib: 19_456,
        argon2_iterations: 2,
        argon2_parallelism: 1,
        argon2_max_concurrent: 2,
    };

    /// The cheapest parameters argon2 accepts: for tests only.
    pub const INSECURE_FOR_TESTS: Self = Self {
        argon2_memory_kib: 8,
        argon2_iterations: 1,
        argon2_parallelism: 1,
        argon2_max_concurrent: 2,
    };

    pub fn is_below_owasp_minimum(&self) -> bool {
        self.argon2_memory_kib < Self::OWASP_MINIMUM.argon2_memory_kib
            || self.argon2_iterations < Self::OWASP_MINIMUM.argon2_iterations
    }
}

impl Config {
    /// A configuration with every default, for the given address and database.
    pub fn new(listen: SocketAddr, database_url: impl Into<String>) -> Self {
        Self {
            listen,
            database_url: database_url.into(),
            no_migrate: false,
            public_url: None,
            max_key_lifetime_days: None,
            key_expiry_warnings: crate::expiry_warnings::ExpiryWarnings::default(),
            audit_retention_days: DEFAULT_AUDIT_RETENTION_DAYS,
            metrics_listen: None,
            database: DatabaseOptions::default(),
            limits: Limits::default(),
            hashing: HashingConfig::OWASP_MINIMUM,
            webhooks: WebhookOptions::default(),
            sessions: SessionOptions::default(),
            sign_in: SignInOptions::default(),
            usage: UsageOptions::default(),
        }
    }
}

/// Accepts `http(s)://authority` with an optional path prefix; stores it without
/// a trailing slash so endpoints can be appended.
fn parse_public_url(raw: &str) -> Result<String, String> {
    let rest = raw
        .strip_prefix("https://")
        .or_else(|| raw.strip_prefix("http://"))
        .ok_or("must start with http:// or https://")?;
    let authority = rest.split('/').next().unwrap_or_default();
    authority
        .parse::<Authority>()
        .map_err(|e| format!("invalid host: {e}"))?;
    if raw.contains(['?', '#']) {
        return Err("must not have a query or fragment".into());
    }
    Ok(raw.trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        config: Config,
    }

    #[test]
    fn defaults_match_the_documented_ones() {
        let parsed = Cli::try_parse_from(["keyward"])
            .expect("defaults parse")
            .config;
        let defaults = Config::new(parsed.listen, parsed.database_url.clone());
        assert_eq!(parsed.listen, "127.0.0.1:8080".parse().expect("addr"));
        assert_eq!(parsed.audit_retention_days, 365);
        assert_eq!(parsed.audit_retention_days, defaults.audit_retention_days);
        assert_eq!(
            parsed.database.db_max_connections,
            defaults.database.db_max_connections
        );
        assert_eq!(
            parsed.database.db_connect_timeout_ms,
            defaults.database.db_connect_timeout_ms
        );
        assert_eq!(
            parsed.database.db_statement_timeout_ms,
            defaults.database.db_statement_timeout_ms
        );
        assert_eq!(
            parsed.limits.auth_failures_per_key,
            defaults.limits.auth_failures_per_key
        );
        assert_eq!(parsed.limits.auth_failures_per_key, 20);
        assert_eq!(
            parsed.limits.max_connections,
            defaults.limits.max_connections
        );
        assert!(parsed.limits.cors_origins.is_empty());
        assert_eq!(parsed.hashing.argon2_memory_kib, 19_456);
        assert_eq!(parsed.hashing.argon2_iterations, 2);
        assert_eq!(parsed.usage.counting, UsageCounting::On);
        assert_eq!(parsed.usage.counting, defaults.usage.counting);
        assert_eq!(
            (
                parsed.usage.minute_retention_hours,
                parsed.usage.hour_retention_days,
                parsed.usage.day_retention_days
            ),
            (48, 90, 730)
        );
        assert_eq!(
            (
                defaults.usage.minute_retention_hours,
                defaults.usage.hour_retention_days,
                defaults.usage.day_retention_days
            ),
            (48, 90, 730)
        );
    }

    #[test]
    fn public_url_is_normalised_and_checked() {
        assert_eq!(
            parse_public_url("https://keys.example.com/").as_deref(),
            Ok("https://keys.example.com")
        );
        assert_eq!(
            parse_public_url("http://10.0.0.1:8080/keyward").as_deref(),
            Ok("http://10.0.0.1:8080/keyward")
        );
        assert!(parse_public_url("keys.example.com").is_err());
        assert!(parse_public_url("https://").is_err());
        assert!(parse_public_url("https://a.example/?x=1").is_err());
    }
}
