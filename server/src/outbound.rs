//! Where the server may send a request whose address a tenant chose: a webhook or Slack
//! contact's URL, or the JWKS URL of its identity settings. Such an address must not turn the
//! server into a tenant's probe of the network it runs in (the cloud's metadata service, a
//! database on the private network, the server's own loopback).
//!
//! [`check_url`] is the rule where an address enters (the API answers 400) and again before
//! each request; [`client`] builds the HTTP client for such requests: no redirects, and a
//! resolver that drops every address that is not public ([`is_public`]), so a public name
//! that resolves to a private address (or is re-pointed there later) is refused too.
//!
//! Loopback (`localhost`, 127.0.0.0/8, ::1) is allowed only when the operator says so
//! ([`Targets::loopback`], `SIQ_ALLOW_LOOPBACK_TARGETS=1`): local development, the demo and the
//! tests' local fakes of the providers. Private ranges are never allowed.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// Which non-public targets the operator allows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Targets {
    /// Loopback hosts, over `http://` too (`SIQ_ALLOW_LOOPBACK_TARGETS=1`). Default off.
    pub loopback: bool,
}

/// Name suffixes of private networks and of the machine itself.
const PRIVATE_SUFFIXES: [&str; 8] = [".local", ".internal", ".lan", ".home.arpa", ".intranet", ".corp", ".localdomain", ".cluster.local"];

/// True for an address on the public internet: not loopback, private (RFC 1918, unique local
/// fc00::/7), link-local (169.254/16 with the cloud metadata service, fe80::/10), shared
/// (100.64/10), unspecified, broadcast, multicast, documentation or benchmarking ranges, nor an
/// IPv6 form (mapped, compatible, 6to4, NAT64) of any of those.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let s = v6.segments();
            if s[0] == 0x2002 {
                // 6to4: the IPv4 address is in segments 1 and 2.
                return is_public_v4(Ipv4Addr::new((s[1] >> 8) as u8, s[1] as u8, (s[2] >> 8) as u8, s[2] as u8));
            }
            if s[0] == 0x0064 && s[1] == 0xff9b {
                return is_public_v4(Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8));
            }
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0] == 0x2001 && s[1] == 0x0db8)
                || s[..6] == [0, 0, 0, 0, 0, 0])
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || o[0] == 0
        || (o[0] == 100 && (o[1] & 0xc0) == 64)
        || (o[0] == 192 && o[1] == 0 && o[2] == 0)
        || (o[0] == 198 && (o[1] & 0xfe) == 18)
        || o[0] >= 240)
}

fn is_loopback_name(host: &str) -> bool {
    host == "localhost" || host.ends_with(".localhost")
}

/// Checks a tenant-chosen URL: `https://` to a public host, or, when `targets` allow loopback,
/// `http(s)://` to a loopback host. No user name or password in it. The reason when refused.
pub fn check_url(address: &str, targets: Targets) -> Result<reqwest::Url, String> {
    let url = reqwest::Url::parse(address.trim()).map_err(|e| format!("{address:?} is not a URL ({e}); expected https://…"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!("{address:?} carries a user name or password; put credentials elsewhere"));
    }
    let host = url.host_str().ok_or_else(|| format!("{address:?} names no host"))?;
    let bare = host.trim_start_matches('[').trim_end_matches(']').trim_end_matches('.').to_ascii_lowercase();
    let loopback = match bare.parse::<IpAddr>() {
        Ok(ip) if ip.is_loopback() => true,
        Ok(ip) if !is_public(ip) => return Err(format!("{address:?} is a private, local or reserved address")),
        Ok(_) => false,
        Err(_) if is_loopback_name(&bare) => true,
        Err(_) if !bare.contains('.') || PRIVATE_SUFFIXES.iter().any(|s| bare.ends_with(s)) => {
            return Err(format!("{address:?} names a host of a private network; use a public https:// address"))
        }
        Err(_) => false,
    };
    if loopback && !targets.loopback {
        return Err(format!("{address:?} is this machine (loopback); the operator has not allowed it"));
    }
    match url.scheme() {
        "https" => Ok(url),
        "http" if loopback => Ok(url),
        "http" => Err(format!("{address:?} must use https:// (plain http:// is accepted only for an allowed loopback host)")),
        _ => Err(format!("{address:?} is not an https:// URL")),
    }
}

/// A resolver that keeps only public addresses (and loopback ones when allowed).
#[derive(Debug)]
struct PublicOnly(Targets);

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let targets = self.0;
        Box::pin(async move {
            let host = name.as_str().to_string();
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let kept: Vec<SocketAddr> =
                found.into_iter().filter(|a| is_public(a.ip()) || (targets.loopback && a.ip().is_loopback())).collect();
            if kept.is_empty() {
                let e: Box<dyn std::error::Error + Send + Sync> = format!("{host} resolves to no public address").into();
                return Err(e);
            }
            Ok(Box::new(kept.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The HTTP client for tenant-chosen URLs: `timeout` per request, no redirects, public
/// addresses only (see the module doc).
pub fn client(timeout: Duration, targets: Targets) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .dns_resolver(Arc::new(PublicOnly(targets)))
        .build()
        .expect("a reqwest client with a timeout builds")
}

#[cfg(test)]
mod tests {
    use super::*;

    const STRICT: Targets = Targets { loopback: false };
    const LOCAL: Targets = Targets { loopback: true };

    #[test]
    fn private_local_and_reserved_targets_are_refused() {
        for bad in [
            "http://127.0.0.1:6379/",
            "https://127.0.0.1/",
            "https://localhost/x",
            "https://[::1]/",
            "https://10.0.0.5/hook",
            "https://172.16.3.4/",
            "https://192.168.1.1/",
            "https://169.254.169.254/latest/meta-data/",
            "https://100.64.0.1/",
            "https://0.0.0.0/",
            "https://[fd00::1]/",
            "https://[fe80::1]/",
            "https://[::ffff:10.0.0.1]/",
            "https://[2002:a00:1::]/",
            "https://metadata/computeMetadata/v1/",
            "https://db.internal/",
            "https://printer.local/",
            "https://redis.default.svc.cluster.local/",
            "http://example.com/hook",
            "https://user:pw@example.com/hook",
            "ftp://example.com/",
        ] {
            assert!(check_url(bad, STRICT).is_err(), "{bad} must be refused");
        }
        assert!(check_url("https://example.com/hooks/siq", STRICT).is_ok());
        assert!(check_url("https://93.184.216.34/x", STRICT).is_ok());
        assert!(check_url("https://[2606:2800:220:1::]/x", STRICT).is_ok());
    }

    #[test]
    fn loopback_only_when_the_operator_allows_it() {
        assert!(check_url("http://127.0.0.1:9000/services/T1", LOCAL).is_ok());
        assert!(check_url("http://localhost:8080/x", LOCAL).is_ok());
        assert!(check_url("http://[::1]:8080/x", LOCAL).is_ok());
        assert!(check_url("http://10.0.0.5/x", LOCAL).is_err(), "private ranges never");
        assert!(check_url("http://127.0.0.1:9000/x", STRICT).is_err());
    }

    #[tokio::test]
    async fn a_name_that_resolves_to_loopback_is_refused_at_connect() {
        use reqwest::dns::Resolve;
        let name: reqwest::dns::Name = "localhost".parse().unwrap();
        assert!(PublicOnly(STRICT).resolve(name).await.is_err());
        let name: reqwest::dns::Name = "localhost".parse().unwrap();
        assert!(PublicOnly(LOCAL).resolve(name).await.is_ok());
    }
}
