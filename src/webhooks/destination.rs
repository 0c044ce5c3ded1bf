//! Where a webhook may be sent: the URL rules and the SSRF policy.
//!
//! A webhook URL is chosen by a user, and the server then makes requests to
//! it from inside its own network. Without a policy, a URL such as
//! `http://169.254.169.254/…` or `http://10.0.0.5:5432/` turns the server into
//! a proxy into that network (server-side request forgery). So, unless the
//! operator turns it off for a deployment whose receivers are private
//! (`--webhook-allow-private-networks`), addresses that are not public
//! unicast destinations are refused, at two points:
//!
//! - when a webhook is saved, [`validate_url`] refuses such literal IPs and
//!   names, and a name any of whose current addresses is refused;
//! - when connecting, the client checks the URL again ([`check_url`]) and
//!   resolves names through [`GuardedResolver`], which drops refused
//!   addresses, so a name re-pointed after it was saved (DNS rebinding)
//!   reaches none of them.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::{Host, Url};

/// How long saving a webhook waits for its name to resolve: a request that
/// saves one should not hang on a slow or unreachable DNS server.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// Which destinations webhooks may reach.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DestinationPolicy {
    /// Lets webhooks reach loopback, private, link-local and the other
    /// refused ranges (`--webhook-allow-private-networks`): for receivers on
    /// the same host or network, and for tests. The scheme and credentials
    /// rules still apply.
    pub allow_private_networks: bool,
}

impl DestinationPolicy {
    /// Whether a connection to `ip` is allowed.
    pub fn permits(&self, ip: IpAddr) -> bool {
        self.allow_private_networks || refused_range(ip).is_none()
    }
}

/// Why a URL may not receive webhooks. The messages are for the user who
/// entered the URL; none of them repeats the URL, whose path or query often
/// holds a token of the receiver's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DestinationError {
    #[error("not a valid URL: {0}")]
    Invalid(#[from] url::ParseError),
    #[error("only http and https URLs can receive webhooks, not {scheme}")]
    Scheme { scheme: String },
    #[error(
        "a webhook URL may not contain a user name or password: they would be stored and \
         shown in plain text; receivers authenticate webhooks by their signature"
    )]
    Credentials,
    #[error("the URL has no host")]
    NoHost,
    #[error("{host} names this machine, which webhooks may not reach")]
    LocalName { host: String },
    /// A literal address: the caller wrote it, so the message may say what
    /// it is. The range's name goes in the plural, which needs no article
    /// ("unspecified", "IPv4-compatible" and "IETF" would each want one of
    /// their own).
    #[error("{address} is refused: webhooks may not reach {range} addresses")]
    Address {
        address: IpAddr,
        range: &'static str,
    },
    /// A name with an address in a refused range. The message is
    /// [`UNREACHABLE_NAME`], the same as for a name that does not resolve:
    /// were they told apart, whoever saves a webhook could learn which
    /// internal names exist (and a range, what they point to). The details
    /// go to the debug log only.
    #[error("{host} {UNREACHABLE_NAME}")]
    Resolved {
        host: String,
        address: IpAddr,
        range: &'static str,
    },
    /// A name that does not resolve; see [`DestinationError::Resolved`].
    #[error("{host} {UNREACHABLE_NAME}")]
    Unresolvable { host: String, reason: String },
    /// When sending, a name none of whose addresses is permitted; see
    /// [`DestinationError::Resolved`].
    #[error("{host} {UNREACHABLE_NAME}")]
    NoPermittedAddress { host: String },
}

/// What is said of a name webhooks may not be sent to, whatever the reason.
const UNREACHABLE_NAME: &str = "does not resolve, or resolves to an address webhooks may not reach";

/// Checks a URL when a webhook is saved, and returns it parsed.
///
/// Refuses schemes other than `http` and `https`, credentials in the URL,
/// and (unless the policy allows private networks) `localhost` names, literal
/// IPs in refused ranges, and names that do not resolve or of which any
/// address is in a refused range. The name is resolved again at every
/// delivery (see [`GuardedResolver`]), as its addresses can change.
pub async fn validate_url(url: &str, policy: DestinationPolicy) -> Result<Url, DestinationError> {
    validate_with(url, policy, &Lookup::System).await
}

async fn validate_with(
    url: &str,
    policy: DestinationPolicy,
    lookup: &Lookup,
) -> Result<Url, DestinationError> {
    let url = Url::parse(url)?;
    check_url(&url, policy)?;
    if policy.allow_private_networks {
        return Ok(url);
    }
    if let Some(Host::Domain(host)) = url.host() {
        let unresolvable = |reason: String| {
            tracing::debug!(
                host,
                reason,
                "webhook URL refused: its name does not resolve"
            );
            DestinationError::Unresolvable {
                host: host.to_owned(),
                reason,
            }
        };
        let addresses = tokio::time::timeout(RESOLVE_TIMEOUT, lookup.ips(host))
            .await
            .map_err(|_| unresolvable(format!("no answer in {}s", RESOLVE_TIMEOUT.as_secs())))?
            .map_err(|err| unresolvable(err.to_string()))?;
        if addresses.is_empty() {
            return Err(unresolvable("no addresses".to_owned()));
        }
        for address in addresses {
            if let Some(range) = refused_range(address) {
                tracing::debug!(
                    host,
                    %address,
                    range,
                    "webhook URL refused: its name resolves to a refused address"
                );
                return Err(DestinationError::Resolved {
                    host: host.to_owned(),
                    address,
                    range,
                });
            }
        }
    }
    Ok(url)
}

/// The checks that need no DNS: scheme, credentials, a host, and (unless the
/// policy allows private networks) no `localhost` name and no literal IP in a
/// refused range.
///
/// The client runs it before every delivery: a literal IP is connected to
/// without resolving, so the resolver never sees it.
pub fn check_url(url: &Url, policy: DestinationPolicy) -> Result<(), DestinationError> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(DestinationError::Scheme {
            scheme: url.scheme().to_owned(),
        });
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(DestinationError::Credentials);
    }
    let host = url.host().ok_or(DestinationError::NoHost)?;
    if policy.allow_private_networks {
        return Ok(());
    }
    let address = match host {
        Host::Domain(name) => {
            return if names_this_machine(name) {
                Err(DestinationError::LocalName {
                    host: name.to_owned(),
                })
            } else {
                Ok(())
            };
        }
        Host::Ipv4(ip) => IpAddr::V4(ip),
        Host::Ipv6(ip) => IpAddr::V6(ip),
    };
    match refused_range(address) {
        Some(range) => Err(DestinationError::Address { address, range }),
        None => Ok(()),
    }
}

/// `localhost` and its subdomains, which RFC 6761 reserves for loopback and
/// resolvers may answer without DNS. Refused by name so that the error says
/// so, rather than naming whatever the name resolves to.
fn names_this_machine(host: &str) -> bool {
    let host = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
    host == "localhost" || host.ends_with(".localhost")
}

/// The refused range `ip` is in, by name, or `None` for an address webhooks
/// may reach. Independent of any policy: see [`DestinationPolicy::permits`].
///
/// Refused: unspecified, loopback, private (RFC 1918, IPv6 unique local),
/// link-local, shared (CGNAT), cloud metadata endpoints, multicast,
/// broadcast, documentation, benchmarking and other reserved ranges, and the
/// IPv6 forms that embed an IPv4 address (mapped, NAT64, 6to4) when the
/// embedded address is refused.
pub fn refused_range(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(ip) => refused_v4(ip),
        IpAddr::V6(ip) => refused_v6(ip),
    }
}

/// Ordered: single addresses before the ranges that contain them, so that
/// the error names the more telling one.
const REFUSED_V4: &[(Ipv4Addr, u8, &str)] = &[
    (Ipv4Addr::new(169, 254, 169, 254), 32, "cloud metadata"),
    (
        Ipv4Addr::new(100, 100, 100, 200),
        32,
        "cloud metadata (Alibaba)",
    ),
    (
        Ipv4Addr::new(168, 63, 129, 16),
        32,
        "cloud metadata (Azure)",
    ),
    (Ipv4Addr::new(255, 255, 255, 255), 32, "broadcast"),
    (
        Ipv4Addr::new(0, 0, 0, 0),
        8,
        "unspecified (\"this network\")",
    ),
    (Ipv4Addr::new(10, 0, 0, 0), 8, "private (RFC 1918)"),
    (Ipv4Addr::new(100, 64, 0, 0), 10, "shared (CGNAT)"),
    (Ipv4Addr::new(127, 0, 0, 0), 8, "loopback"),
    (Ipv4Addr::new(169, 254, 0, 0), 16, "link-local"),
    (Ipv4Addr::new(172, 16, 0, 0), 12, "private (RFC 1918)"),
    (Ipv4Addr::new(192, 0, 0, 0), 24, "IETF protocol assignment"),
    (Ipv4Addr::new(192, 0, 2, 0), 24, "documentation"),
    (Ipv4Addr::new(192, 88, 99, 0), 24, "6to4 relay"),
    (Ipv4Addr::new(192, 168, 0, 0), 16, "private (RFC 1918)"),
    (Ipv4Addr::new(198, 18, 0, 0), 15, "benchmarking"),
    (Ipv4Addr::new(198, 51, 100, 0), 24, "documentation"),
    (Ipv4Addr::new(203, 0, 113, 0), 24, "documentation"),
    (Ipv4Addr::new(224, 0, 0, 0), 4, "multicast"),
    (Ipv4Addr::new(240, 0, 0, 0), 4, "reserved"),
];

fn refused_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let bits = u32::from(ip);
    REFUSED_V4
        .iter()
        .find(|(net, len, _)| prefix_matches(bits.into(), u32::from(*net).into(), 32, *len))
        .map(|(_, _, range)| *range)
}

/// Like [`REFUSED_V4`]; the ranges that embed an IPv4 address are handled in
/// [`refused_v6`] first.
const REFUSED_V6: &[(Ipv6Addr, u8, &str)] = &[
    (
        Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254),
        128,
        "cloud metadata (AWS)",
    ),
    (Ipv6Addr::UNSPECIFIED, 128, "unspecified"),
    (Ipv6Addr::LOCALHOST, 128, "loopback"),
    (
        Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 0),
        96,
        "IPv4-compatible (deprecated)",
    ),
    (
        Ipv6Addr::new(0x64, 0xff9b, 1, 0, 0, 0, 0, 0),
        48,
        "NAT64 local-use",
    ),
    (
        Ipv6Addr::new(0x100, 0, 0, 0, 0, 0, 0, 0),
        64,
        "discard-only",
    ),
    (
        Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0),
        32,
        "documentation",
    ),
    (
        Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0),
        23,
        "IETF protocol assignment",
    ),
    (
        Ipv6Addr::new(0x3fff, 0, 0, 0, 0, 0, 0, 0),
        20,
        "documentation",
    ),
    (
        Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0),
        7,
        "unique local (private)",
    ),
    (Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10, "link-local"),
    (
        Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 0),
        10,
        "site-local (deprecated)",
    ),
    (Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0), 8, "multicast"),
];

fn refused_v6(ip: Ipv6Addr) -> Option<&'static str> {
    if let Some(embedded) = embedded_v4(ip) {
        return refused_v4(embedded);
    }
    let bits = u128::from(ip);
    REFUSED_V6
        .iter()
        .find(|(net, len, _)| prefix_matches(bits, u128::from(*net), 128, *len))
        .map(|(_, _, range)| *range)
}

/// The IPv4 address inside an IPv6 address that reaches it: IPv4-mapped
/// (`::ffff:a.b.c.d`), IPv4-translated (`::ffff:0:a.b.c.d`), NAT64
/// (`64:ff9b::a.b.c.d`) and 6to4 (`2002:aabb:ccdd::/48`). Whoever routes
/// these delivers to the IPv4 address, so it is judged instead.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let [.., a, b, c, d] = ip.octets();
    let low = Ipv4Addr::new(a, b, c, d);
    match ip.segments() {
        [0, 0, 0, 0, 0, 0xffff, _, _] | [0, 0, 0, 0, 0xffff, 0, _, _] => Some(low),
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(low),
        [0x2002, high, low_half, ..] => Some(Ipv4Addr::from(
            (u32::from(high) << 16) | u32::from(low_half),
        )),
        _ => None,
    }
}

/// Whether the first `len` of `width` bits of `bits` and `net` agree.
fn prefix_matches(bits: u128, net: u128, width: u32, len: u8) -> bool {
    let shift = width - u32::from(len);
    if shift >= 128 {
        return true;
    }
    (bits >> shift) == (net >> shift)
}

/// Resolves names for the webhook client with tokio (the system resolver),
/// dropping every address the policy refuses, and fails when none is left.
///
/// Installed with `reqwest::ClientBuilder::dns_resolver`, so the addresses
/// checked are the addresses connected to: there is no window between a
/// check and the connection for a re-pointed name to slip through.
#[derive(Debug, Clone)]
pub struct GuardedResolver {
    policy: DestinationPolicy,
    lookup: Lookup,
}

impl GuardedResolver {
    pub fn new(policy: DestinationPolicy) -> Self {
        Self {
            policy,
            lookup: Lookup::System,
        }
    }

    /// A resolver that answers from `entries` instead of DNS, for tests of
    /// names that resolve to addresses this machine has no DNS for.
    #[cfg(test)]
    pub(crate) fn fixed(policy: DestinationPolicy, entries: &[(&str, &[IpAddr])]) -> Self {
        Self {
            policy,
            lookup: Lookup::fixed(entries),
        }
    }

    async fn permitted(
        policy: DestinationPolicy,
        lookup: Lookup,
        host: String,
    ) -> Result<Vec<SocketAddr>, DestinationError> {
        let addresses = lookup.ips(&host).await.map_err(|err| {
            let reason = err.to_string();
            tracing::debug!(
                host,
                reason,
                "webhook delivery refused: its name does not resolve"
            );
            DestinationError::Unresolvable {
                host: host.clone(),
                reason,
            }
        })?;
        let (permitted, refused): (Vec<IpAddr>, Vec<IpAddr>) =
            addresses.into_iter().partition(|ip| policy.permits(*ip));
        if permitted.is_empty() {
            tracing::debug!(
                host,
                refused = ?refused
                    .iter()
                    .map(|ip| (ip, refused_range(*ip)))
                    .collect::<Vec<_>>(),
                "webhook delivery refused: no address of its name may be reached"
            );
            return Err(DestinationError::NoPermittedAddress { host });
        }
        let permitted = permitted
            .into_iter()
            // Port 0: reqwest puts in the URL's port (or the scheme's).
            .map(|ip| SocketAddr::new(ip, 0))
            .collect();
        Ok(permitted)
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let (policy, lookup, host) = (self.policy, self.lookup.clone(), name.as_str().to_owned());
        Box::pin(async move {
            let addresses = Self::permitted(policy, lookup, host).await?;
            Ok(Box::new(addresses.into_iter()) as Addrs)
        })
    }
}

/// Where addresses come from: the system resolver, or a fixed table in
/// tests.
#[derive(Debug, Clone)]
enum Lookup {
    System,
    #[cfg_attr(not(test), allow(dead_code, reason = "only tests build one"))]
    Fixed(Arc<HashMap<String, Vec<IpAddr>>>),
}

impl Lookup {
    #[cfg(test)]
    fn fixed(entries: &[(&str, &[IpAddr])]) -> Self {
        Self::Fixed(Arc::new(
            entries
                .iter()
                .map(|(host, ips)| ((*host).to_owned(), ips.to_vec()))
                .collect(),
        ))
    }

    /// The distinct addresses of `host`, in the resolver's order.
    async fn ips(&self, host: &str) -> io::Result<Vec<IpAddr>> {
        let found: Vec<IpAddr> = match self {
            Self::System => tokio::net::lookup_host((host, 0))
                .await?
                .map(|address| address.ip())
                .collect(),
            Self::Fixed(table) => table
                .get(host)
                .cloned()
                .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such host"))?,
        };
        let mut distinct = Vec::with_capacity(found.len());
        for ip in found {
            if !distinct.contains(&ip) {
                distinct.push(ip);
            }
        }
        Ok(distinct)
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    const STRICT: DestinationPolicy = DestinationPolicy {
        allow_private_networks: false,
    };
    const OPEN: DestinationPolicy = DestinationPolicy {
        allow_private_networks: true,
    };

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("an IP address")
    }

    #[test]
    fn addresses_are_refused_or_permitted_by_table() {
        // (address, the range it is refused as, or None where permitted)
        let cases: &[(&str, Option<&str>)] = &[
            ("93.184.215.14", None),
            ("1.1.1.1", None),
            ("8.8.8.8", None),
            ("172.15.255.255", None),
            ("172.32.0.0", None),
            ("100.63.255.255", None),
            ("100.128.0.0", None),
            ("169.253.255.255", None),
            ("223.255.255.255", None),
            ("0.0.0.0", Some("unspecified (\"this network\")")),
            ("0.1.2.3", Some("unspecified (\"this network\")")),
            ("127.0.0.1", Some("loopback")),
            ("127.255.255.254", Some("loopback")),
            ("10.0.0.1", Some("private (RFC 1918)")),
            ("172.16.0.1", Some("private (RFC 1918)")),
            ("172.31.255.255", Some("private (RFC 1918)")),
            ("192.168.1.1", Some("private (RFC 1918)")),
            ("169.254.0.1", Some("link-local")),
            ("169.254.169.254", Some("cloud metadata")),
            ("100.100.100.200", Some("cloud metadata (Alibaba)")),
            ("168.63.129.16", Some("cloud metadata (Azure)")),
            ("100.64.0.1", Some("shared (CGNAT)")),
            ("100.127.255.255", Some("shared (CGNAT)")),
            ("192.0.0.192", Some("IETF protocol assignment")),
            ("192.0.2.1", Some("documentation")),
            ("198.51.100.7", Some("documentation")),
            ("203.0.113.9", Some("documentation")),
            ("198.18.0.1", Some("benchmarking")),
            ("224.0.0.251", Some("multicast")),
            ("239.255.255.250", Some("multicast")),
            ("240.0.0.1", Some("reserved")),
            ("255.255.255.255", Some("broadcast")),
            ("2606:4700:4700::1111", None),
            ("2001:4860:4860::8888", None),
            ("2002:5db8:d70e::1", None),
            ("64:ff9b::808:808", None),
            ("::ffff:8.8.8.8", None),
            ("::", Some("unspecified")),
            ("::1", Some("loopback")),
            ("fd00:ec2::254", Some("cloud metadata (AWS)")),
            ("fd12:3456::1", Some("unique local (private)")),
            ("fc00::1", Some("unique local (private)")),
            ("fe80::1", Some("link-local")),
            ("febf::1", Some("link-local")),
            ("fec0::1", Some("site-local (deprecated)")),
            ("ff02::1", Some("multicast")),
            ("2001:db8::1", Some("documentation")),
            ("3fff::1", Some("documentation")),
            ("2001::1", Some("IETF protocol assignment")),
            ("100::1", Some("discard-only")),
            ("::127.0.0.1", Some("IPv4-compatible (deprecated)")),
            ("64:ff9b:1::1", Some("NAT64 local-use")),
            // IPv4 addresses in IPv6 clothing are judged as IPv4.
            ("::ffff:127.0.0.1", Some("loopback")),
            ("::ffff:10.1.2.3", Some("private (RFC 1918)")),
            ("::ffff:169.254.169.254", Some("cloud metadata")),
            ("::ffff:100.100.100.200", Some("cloud metadata (Alibaba)")),
            ("::ffff:168.63.129.16", Some("cloud metadata (Azure)")),
            ("::ffff:100.64.0.1", Some("shared (CGNAT)")),
            ("::ffff:0.0.0.0", Some("unspecified (\"this network\")")),
            ("::ffff:255.255.255.255", Some("broadcast")),
            ("::ffff:224.0.0.1", Some("multicast")),
            ("::ffff:192.0.2.1", Some("documentation")),
            ("::ffff:0:192.168.0.1", Some("private (RFC 1918)")),
            ("64:ff9b::127.0.0.1", Some("loopback")),
            ("64:ff9b::a9fe:a9fe", Some("cloud metadata")),
            ("2002:7f00:1::", Some("loopback")),
            ("2002:c0a8:101::1", Some("private (RFC 1918)")),
        ];
        for (address, expected) in cases {
            let address = ip(address);
            assert_eq!(refused_range(address), *expected, "{address}");
            assert_eq!(STRICT.permits(address), expected.is_none(), "{address}");
            assert!(OPEN.permits(address), "{address} with private networks");
        }
    }

    /// The refusal a URL gets from [`check_url`], by kind, for tables.
    fn refusal(result: Result<(), DestinationError>) -> &'static str {
        match result {
            Ok(()) => "ok",
            Err(DestinationError::Invalid(_)) => "invalid",
            Err(DestinationError::Scheme { .. }) => "scheme",
            Err(DestinationError::Credentials) => "credentials",
            Err(DestinationError::NoHost) => "no host",
            Err(DestinationError::LocalName { .. }) => "local name",
            Err(DestinationError::Address { .. }) => "address",
            Err(DestinationError::Resolved { .. }) => "resolved",
            Err(DestinationError::Unresolvable { .. }) => "unresolvable",
            Err(DestinationError::NoPermittedAddress { .. }) => "no permitted address",
        }
    }

    #[test]
    fn urls_are_refused_or_allowed_without_resolving_by_table() {
        // (URL, strict policy, with private networks allowed)
        let cases = [
            ("https://hooks.example.com/keyward", "ok", "ok"),
            ("http://hooks.example.com:8080/x?token=1#f", "ok", "ok"),
            ("HTTPS://Hooks.Example.COM/", "ok", "ok"),
            ("https://93.184.215.14/", "ok", "ok"),
            ("https://[2606:4700:4700::1111]/", "ok", "ok"),
            ("ftp://hooks.example.com/", "scheme", "scheme"),
            ("file:///etc/passwd", "scheme", "scheme"),
            ("gopher://127.0.0.1:6379/_INFO", "scheme", "scheme"),
            ("javascript:alert(1)", "scheme", "scheme"),
            (
                "https://user:pass@hooks.example.com/",
                "credentials",
                "credentials",
            ),
            (
                "https://user@hooks.example.com/",
                "credentials",
                "credentials",
            ),
            (
                "https://:pass@hooks.example.com/",
                "credentials",
                "credentials",
            ),
            ("http://localhost/", "local name", "ok"),
            ("http://LOCALHOST.:8080/", "local name", "ok"),
            ("http://api.localhost/", "local name", "ok"),
            ("http://127.0.0.1:8080/", "address", "ok"),
            ("http://127.1/", "address", "ok"),
            ("http://2130706433/", "address", "ok"),
            ("http://0x7f000001/", "address", "ok"),
            ("http://0177.0.0.1/", "address", "ok"),
            ("http://0.0.0.0/", "address", "ok"),
            ("http://10.0.0.5:5432/", "address", "ok"),
            ("http://192.168.0.1/", "address", "ok"),
            ("http://169.254.169.254/latest/meta-data/", "address", "ok"),
            ("http://100.100.100.200/", "address", "ok"),
            ("http://168.63.129.16/", "address", "ok"),
            ("http://100.64.1.1/", "address", "ok"),
            ("http://255.255.255.255/", "address", "ok"),
            ("http://[::1]/", "address", "ok"),
            ("http://[::]/", "address", "ok"),
            ("http://[fd00:ec2::254]/", "address", "ok"),
            ("http://[fe80::1]/", "address", "ok"),
            ("http://[::ffff:127.0.0.1]/", "address", "ok"),
            ("http://[::ffff:169.254.169.254]/", "address", "ok"),
            ("http://[ff02::1]/", "address", "ok"),
        ];
        for (url, strict, open) in cases {
            let parsed = Url::parse(url).expect("parses");
            assert_eq!(refusal(check_url(&parsed, STRICT)), strict, "{url}");
            assert_eq!(
                refusal(check_url(&parsed, OPEN)),
                open,
                "{url} (private allowed)"
            );
        }
    }

    #[tokio::test]
    async fn saving_resolves_names_and_refuses_any_refused_address_by_table() {
        let lookup = Lookup::fixed(&[
            ("public.example", &[ip("93.184.215.14"), ip("2606:4700::1")]),
            ("internal.example", &[ip("10.0.0.7")]),
            ("mixed.example", &[ip("93.184.215.14"), ip("127.0.0.1")]),
            ("metadata.example", &[ip("169.254.169.254")]),
            ("mapped.example", &[ip("::ffff:192.168.1.1")]),
            ("empty.example", &[]),
        ]);
        // (URL, strict policy, with private networks allowed)
        let cases = [
            ("https://public.example/hook", "ok", "ok"),
            ("https://internal.example/hook", "resolved", "ok"),
            ("https://mixed.example/hook", "resolved", "ok"),
            ("https://metadata.example/hook", "resolved", "ok"),
            ("https://mapped.example/hook", "resolved", "ok"),
            ("https://empty.example/hook", "unresolvable", "ok"),
            ("https://missing.example/hook", "unresolvable", "ok"),
            ("https://localhost/hook", "local name", "ok"),
            ("https://127.0.0.1/hook", "address", "ok"),
            ("https://93.184.215.14/hook", "ok", "ok"),
            ("not a url", "invalid", "invalid"),
            ("https://", "invalid", "invalid"),
            ("mailto:ops@example.com", "scheme", "scheme"),
            ("https://u:p@public.example/", "credentials", "credentials"),
        ];
        for (url, strict, open) in cases {
            let got = validate_with(url, STRICT, &lookup).await.map(|_| ());
            assert_eq!(refusal(got), strict, "{url}");
            let got = validate_with(url, OPEN, &lookup).await.map(|_| ());
            assert_eq!(refusal(got), open, "{url} (private allowed)");
        }
    }

    #[tokio::test]
    async fn validate_url_returns_the_parsed_url_and_explains_refusals() {
        let url = validate_url("https://93.184.215.14/hook?token=abc", STRICT)
            .await
            .expect("a public literal address needs no DNS");
        assert_eq!(url.path(), "/hook");

        let err = validate_url("http://169.254.169.254/latest?token=abc", STRICT)
            .await
            .expect_err("metadata endpoint");
        assert_eq!(
            err.to_string(),
            "169.254.169.254 is refused: webhooks may not reach cloud metadata addresses"
        );
        // The receiver's token in the URL is not repeated.
        assert!(!err.to_string().contains("abc"));

        let err = validate_url("https://u:secret@example.com/", STRICT)
            .await
            .expect_err("credentials");
        assert!(!err.to_string().contains("secret"), "{err}");
    }

    /// Whoever saves a webhook learns nothing of which names exist inside:
    /// a name that does not resolve and names that resolve to refused
    /// addresses get one message, when saving and when sending.
    #[tokio::test]
    async fn a_name_that_does_not_resolve_and_one_that_resolves_inside_read_the_same() {
        let entries: &[(&str, &[IpAddr])] = &[
            ("internal.example", &[ip("10.0.0.7")]),
            ("mixed.example", &[ip("93.184.215.14"), ip("127.0.0.1")]),
            ("metadata.example", &[ip("169.254.169.254")]),
            ("mapped.example", &[ip("::ffff:192.168.1.1")]),
            ("empty.example", &[]),
        ];
        let lookup = Lookup::fixed(entries);
        let resolver = GuardedResolver::fixed(STRICT, entries);
        let expected = "NAME does not resolve, or resolves to an address webhooks may not reach";
        let hosts = [
            "missing.example",
            "internal.example",
            "mixed.example",
            "metadata.example",
            "mapped.example",
            "empty.example",
        ];
        for host in hosts {
            let saved = validate_with(&format!("https://{host}/hook"), STRICT, &lookup)
                .await
                .expect_err("refused when saved");
            assert_eq!(saved.to_string().replace(host, "NAME"), expected, "{host}");
        }
        // When sending, a name with a permitted address resolves to it.
        for host in ["missing.example", "internal.example", "metadata.example"] {
            let sent = match resolver
                .resolve(Name::from_str(host).expect("a name"))
                .await
            {
                Ok(addresses) => panic!("{host} resolved to {:?}", addresses.collect::<Vec<_>>()),
                Err(err) => err.to_string(),
            };
            assert_eq!(sent.replace(host, "NAME"), expected, "{host} when sending");
        }
    }

    /// A literal address's refusal names its range, in a sentence that
    /// reads right for every range: plural, without an article.
    #[test]
    fn each_refused_range_reads_as_a_sentence_by_table() {
        let cases = [
            (
                "0.0.0.0",
                "0.0.0.0 is refused: webhooks may not reach unspecified (\"this network\") addresses",
            ),
            (
                "::",
                ":: is refused: webhooks may not reach unspecified addresses",
            ),
            (
                "::127.0.0.1",
                "::7f00:1 is refused: webhooks may not reach IPv4-compatible (deprecated) addresses",
            ),
            (
                "192.0.0.8",
                "192.0.0.8 is refused: webhooks may not reach IETF protocol assignment addresses",
            ),
            (
                "fd00:ec2::254",
                "fd00:ec2::254 is refused: webhooks may not reach cloud metadata (AWS) addresses",
            ),
            (
                "10.0.0.1",
                "10.0.0.1 is refused: webhooks may not reach private (RFC 1918) addresses",
            ),
        ];
        for (address, expected) in cases {
            let url = Url::parse(&format!(
                "http://{}/",
                match ip(address) {
                    IpAddr::V4(v4) => v4.to_string(),
                    IpAddr::V6(v6) => format!("[{v6}]"),
                }
            ))
            .expect("a URL");
            let err = check_url(&url, STRICT).expect_err("refused");
            assert_eq!(err.to_string(), expected);
        }
        // Every range of both tables, by an address inside it.
        let v4 = REFUSED_V4.iter().map(|(net, len, range)| {
            let inside = if *len == 32 {
                *net
            } else {
                Ipv4Addr::from(u32::from(*net) | 2)
            };
            (IpAddr::V4(inside), *range)
        });
        let v6 = REFUSED_V6.iter().map(|(net, len, range)| {
            let inside = if *len == 128 {
                *net
            } else {
                Ipv6Addr::from(u128::from(*net) | 2)
            };
            (IpAddr::V6(inside), *range)
        });
        for (address, range) in v4.chain(v6) {
            assert_eq!(refused_range(address), Some(range), "{address}");
            let message = DestinationError::Address { address, range }.to_string();
            let words: Vec<&str> = message.split_whitespace().collect();
            assert!(!words.contains(&"a") && !words.contains(&"an"), "{message}");
            assert!(
                message.ends_with(&format!("reach {range} addresses")),
                "{message}"
            );
        }
    }

    #[tokio::test]
    async fn resolver_filters_localhost_to_nothing() {
        let resolver = GuardedResolver::new(STRICT);
        let name = Name::from_str("localhost").expect("a name");
        let err = match resolver.resolve(name).await {
            Ok(addresses) => panic!("resolved to {:?}", addresses.collect::<Vec<_>>()),
            Err(err) => err,
        };
        assert_eq!(
            err.downcast_ref::<DestinationError>(),
            Some(&DestinationError::NoPermittedAddress {
                host: "localhost".to_owned()
            })
        );
    }

    #[tokio::test]
    async fn resolver_with_private_networks_allowed_resolves_localhost() {
        let resolver = GuardedResolver::new(OPEN);
        let name = Name::from_str("localhost").expect("a name");
        let addresses: Vec<SocketAddr> = resolver.resolve(name).await.expect("resolves").collect();
        assert!(
            addresses.iter().any(|a| a.ip().is_loopback()),
            "{addresses:?}"
        );
    }

    #[tokio::test]
    async fn resolver_keeps_only_permitted_addresses_by_table() {
        let resolver = GuardedResolver::fixed(
            STRICT,
            &[
                ("public.example", &[ip("93.184.215.14")]),
                (
                    "mixed.example",
                    &[
                        ip("10.0.0.1"),
                        ip("93.184.215.14"),
                        ip("::1"),
                        ip("2606:4700::1"),
                    ],
                ),
                ("private.example", &[ip("192.168.0.1"), ip("fd00::1")]),
            ],
        );
        let cases: &[(&str, Option<&[&str]>)] = &[
            ("public.example", Some(&["93.184.215.14"])),
            ("mixed.example", Some(&["93.184.215.14", "2606:4700::1"])),
            ("private.example", None),
            ("missing.example", None),
        ];
        for (host, expected) in cases {
            let got = resolver
                .resolve(Name::from_str(host).expect("a name"))
                .await
                .ok()
                .map(|addresses| addresses.map(|a| a.ip()).collect::<Vec<_>>());
            let expected = expected.map(|ips| ips.iter().map(|s| ip(s)).collect::<Vec<_>>());
            assert_eq!(got, expected, "{host}");
        }
    }
}
