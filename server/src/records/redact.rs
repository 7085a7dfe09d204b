//! What an alert record keeps of the secrets that went into it. A paged contact's address
//! (phone, email, Slack or webhook URL, PagerDuty routing key) and the signed link in the
//! message are capabilities: whoever holds them can text the executive, post into their Slack,
//! open the session or acknowledge as the contact. The alert record — stored, streamed on the
//! bus, listed by `GET /v1/alerts` and `/v1/live` to every role — keeps only enough to tell
//! which address it was, and the link without its signatures (docs/security.md).

/// Enough of `address` for a person to recognise it, nothing that reaches it:
/// `+1•••••0100` (phone: the last four digits), `d•••@acme.example` (email: the first
/// character and the domain), `https://hooks.slack.com/…` (URL: scheme and host),
/// `•••• 4f2a` (anything else, e.g. a PagerDuty routing key: the last four characters of a
/// value of 12 or more, nothing of a shorter one).
pub fn mask_address(address: &str) -> String {
    let a = address.trim();
    if let Some(rest) = a.strip_prefix("whatsapp:") {
        return format!("whatsapp:{}", mask_address(rest));
    }
    if let Ok(url) = reqwest::Url::parse(a) {
        if let Some(host) = url.host_str() {
            return format!("{}://{host}/…", url.scheme());
        }
    }
    if let Some((local, domain)) = a.split_once('@') {
        let first: String = local.chars().take(1).collect();
        return format!("{first}•••@{domain}");
    }
    let digits = a.bytes().filter(u8::is_ascii_digit).count();
    if a.starts_with('+') && digits >= 7 && a.bytes().all(|b| b.is_ascii_digit() || b"+ -().".contains(&b)) {
        let tail: String = a.chars().rev().filter(char::is_ascii_digit).take(4).collect::<Vec<_>>().into_iter().rev().collect();
        let head: String = a.chars().take(2).collect();
        return format!("{head}•••••{tail}");
    }
    let n = a.chars().count();
    if n >= 12 {
        let tail: String = a.chars().skip(n - 4).collect();
        format!("•••• {tail}")
    } else {
        "••••".into()
    }
}

/// A signed session link without its capabilities: the query (`t`, `exp`, `sig`, `ack`) is
/// dropped, the path to the session kept (`https://siq.example/s/00ab…`).
pub fn link_without_secrets(link: &str) -> String {
    match link.split_once('?') {
        Some((path, _)) => path.to_string(),
        None => link.to_string(),
    }
}

/// An error text without URLs: a provider's or the tenant's endpoint URL (which may carry a
/// token in its path) is cut to its scheme and host.
pub fn error_without_urls(text: &str) -> String {
    text.split(' ')
        .map(|w| {
            let (lead, rest) = w.split_at(w.find("http").unwrap_or(w.len()));
            if rest.starts_with("http://") || rest.starts_with("https://") {
                let end = rest.find([')', ',', '"']).unwrap_or(rest.len());
                format!("{lead}{}{}", mask_address(&rest[..end]), &rest[end..])
            } else {
                w.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_recognisable_but_unusable() {
        assert_eq!(mask_address("+15550100"), "+1•••••0100");
        assert_eq!(mask_address("whatsapp:+15550100"), "whatsapp:+1•••••0100");
        assert_eq!(mask_address("dana@acme.example"), "d•••@acme.example");
        assert_eq!(mask_address("https://hooks.slack.com/services/T0/B0/secret"), "https://hooks.slack.com/…");
        assert_eq!(mask_address("http://127.0.0.1:9/hook?token=x"), "http://127.0.0.1/…");
        assert_eq!(mask_address("0123456789abcdef0123456789abcdef"), "•••• cdef");
        assert_eq!(mask_address("short"), "••••");
        for secret in
            ["+15550100", "dana@acme.example", "https://hooks.slack.com/services/T0/B0/secret", "0123456789abcdef0123456789abcdef"]
        {
            let m = mask_address(secret);
            assert!(!m.contains(secret), "{secret} -> {m}");
        }
    }

    #[test]
    fn links_lose_their_signatures_and_errors_their_urls() {
        assert_eq!(link_without_secrets("https://x.example/s/00ab?t=t1&exp=9&sig=ff&ack=ee"), "https://x.example/s/00ab");
        assert_eq!(
            error_without_urls("connection failed: error sending request for url (https://hooks.slack.com/services/T0/B0/secret)"),
            "connection failed: error sending request for url (https://hooks.slack.com/…)"
        );
    }
}
