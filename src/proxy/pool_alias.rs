//! Short names for plain-HTTP targets in the connection pool's key.
//!
//! hyper-util's pool keys its connections by scheme and authority, and hashes the
//! authority with SipHash one byte at a time, three times per request (two look-ups at
//! checkout, one when the connection goes back): about 1,100 instructions per look-up for
//! `127.0.0.1:28080`, twice that for a service name such as
//! `orders.payments.svc.cluster.local:8080`, on every upstream call. A target of an
//! `http://` upstream is therefore known to the pool by an alias of two to four characters
//! (`~0`, `~1`, …), and [`super::unsent::WatchingConnector`] turns the alias back into the
//! target's address when it opens a connection. The alias never reaches the wire: the
//! gateway writes `Host` itself, and HTTP/1 requests go out in origin form.
//!
//! `https://` targets keep their own authority: it names the server for SNI and the
//! certificate check, and HTTP/2 sends it as `:authority`.
//!
//! An alias stands for one address for the life of the process, so connections pooled
//! under it always lead to that address. The table keeps at most [`MAX_ALIASES`] entries
//! (a discovered upstream whose addresses keep changing could otherwise grow it without
//! end); past that, new targets are pooled under their own authority, which costs only
//! the hashing above.

use std::collections::HashMap;
use std::sync::{LazyLock, RwLock};

use http::Uri;
use http::uri::Authority;

/// Most addresses given an alias in one process.
pub const MAX_ALIASES: usize = 1 << 16;

/// The first character of every alias: valid in an authority, never in a host name, so an
/// alias is never mistaken for a real host (and one that escaped would fail to resolve).
const MARK: char = '~';

#[derive(Default)]
struct Table {
    by_address: HashMap<Authority, Authority>,
    addresses: Vec<Authority>,
}

static TABLE: LazyLock<RwLock<Table>> = LazyLock::new(RwLock::default);

/// The authority the pool knows `address` by: its alias, made on first use, or the
/// address itself once the table is full.
pub fn alias(address: &Authority) -> Authority {
    if let Some(a) = read().by_address.get(address) {
        return a.clone();
    }
    let mut table = TABLE.write().unwrap_or_else(|e| e.into_inner());
    if let Some(a) = table.by_address.get(address) {
        return a.clone();
    }
    if table.addresses.len() >= MAX_ALIASES {
        return address.clone();
    }
    let name = format!("{MARK}{:x}", table.addresses.len());
    let Ok(a) = Authority::try_from(name) else {
        return address.clone();
    };
    table.addresses.push(address.clone());
    table.by_address.insert(address.clone(), a.clone());
    a
}

/// `dst` with an alias replaced by the address it stands for; `None` when `dst` names no
/// alias (a real host, to connect to as it is).
pub fn resolve(dst: &Uri) -> Option<Uri> {
    let index = dst.host()?.strip_prefix(MARK)?;
    let index = usize::from_str_radix(index, 16).ok()?;
    let address = read().addresses.get(index)?.clone();
    let mut parts = dst.clone().into_parts();
    parts.authority = Some(address);
    Uri::from_parts(parts).ok()
}

fn read() -> std::sync::RwLockReadGuard<'static, Table> {
    TABLE.read().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_alias_stands_for_its_address_and_is_short() {
        let address: Authority = "orders.payments.svc.cluster.local:8080".parse().unwrap();
        let a = alias(&address);
        assert!(a.as_str().starts_with('~') && a.as_str().len() <= 5, "{a}");
        assert_eq!(alias(&address), a, "one alias per address");
        let other = alias(&"10.0.0.1:80".parse().unwrap());
        assert_ne!(other, a);
        let dst: Uri = format!("http://{a}/").parse().unwrap();
        assert_eq!(
            resolve(&dst).unwrap().to_string(),
            "http://orders.payments.svc.cluster.local:8080/"
        );
    }

    #[test]
    fn real_hosts_and_unknown_aliases_are_left_alone() {
        for dst in [
            "http://orders:8080/",
            "https://[::1]:8443/",
            "http://~ffffff/",
        ] {
            assert_eq!(resolve(&dst.parse().unwrap()), None, "{dst}");
        }
    }
}
