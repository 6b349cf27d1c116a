//! The connection URL the Postgres adapter uses: the operator's, with TLS
//! left out on the loopback interface.

/// `url` with `sslmode=disable` when it names this host and no `sslmode`:
/// TLS to a server on the loopback interface protects nothing, and it cost
/// about 7 % of the machine's CPU in the sell-out benchmark (both ends
/// encrypt every round trip). An explicit `sslmode` is left alone.
pub fn plain_on_loopback(url: &str) -> String {
    let Some((_, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    let host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host_port.split(':').next().unwrap_or_default(),
    };
    let loopback = matches!(host, "127.0.0.1" | "localhost" | "::1");
    if !loopback || url.contains("sslmode=") {
        return url.to_owned();
    }
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}sslmode=disable")
}

#[cfg(test)]
mod tests {
    use super::plain_on_loopback;

    #[test]
    fn tls_is_left_out_on_loopback_only() {
        for (url, plain) in [
            (
                "postgres://u@127.0.0.1:5432/db",
                "postgres://u@127.0.0.1:5432/db?sslmode=disable",
            ),
            (
                "postgres://u:p@localhost/db?x=1",
                "postgres://u:p@localhost/db?x=1&sslmode=disable",
            ),
            (
                "postgresql://[::1]:5432/db",
                "postgresql://[::1]:5432/db?sslmode=disable",
            ),
            (
                "postgres://u@db.example.com/db",
                "postgres://u@db.example.com/db",
            ),
            (
                "postgres://u@127.0.0.1/db?sslmode=require",
                "postgres://u@127.0.0.1/db?sslmode=require",
            ),
            ("postgres://u@127.0.0.10/db", "postgres://u@127.0.0.10/db"),
        ] {
            assert_eq!(plain_on_loopback(url), plain, "{url}");
        }
    }
}
