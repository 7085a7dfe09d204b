//! Company from a visitor's email: when the host's token carries an `email` but no `account`,
//! the registrable domain of a work address (`ada@eng.acme.co.uk` → `acme.co.uk`) names the
//! company the visitor belongs to, so their sessions can still be grouped by account.
//!
//! Addresses at consumer mail providers (Gmail, Outlook/Hotmail/Live, Yahoo, iCloud, Proton, GMX,
//! Yandex, QQ, …) and at disposable-mail services say nothing about a company and give `None`.
//! Disposable domains come from the `disposable-emails` crate (a vendored copy of the
//! community-maintained `disposable` aggregate, about 72,000 domains). No crate we can build
//! offline ships a consumer-provider list (the one that has it downloads its lists while
//! building), so that part is the short list in this file: the big providers by exact domain,
//! plus the brands whose consumer mail runs under many country domains (`yahoo.*`, `hotmail.*`,
//! …), matched on the registrable domain's first label.
//!
//! The registrable part of a domain is found with the Public Suffix List (`psl` crate), so
//! `acme.co.uk` is one company and not a subdomain of `co.uk`.

/// Longest address considered, in bytes (the SMTP path limit of RFC 5321).
pub const MAX_EMAIL_LEN: usize = 254;

/// Longest local part (before the `@`), in bytes (RFC 5321).
const MAX_LOCAL_LEN: usize = 64;

/// Longest domain label, in bytes (RFC 1035).
const MAX_LABEL_LEN: usize = 63;

/// Consumer mail providers, by registrable domain; sorted for binary search.
const FREE_MAIL_DOMAINS: &[&str] = &[
    "126.com",
    "163.com",
    "aim.com",
    "att.net",
    "bk.ru",
    "btinternet.com",
    "comcast.net",
    "cox.net",
    "daum.net",
    "fastmail.com",
    "fastmail.fm",
    "foxmail.com",
    "free.fr",
    "freenet.de",
    "gmail.com",
    "googlemail.com",
    "hanmail.net",
    "hey.com",
    "hushmail.com",
    "icloud.com",
    "inbox.ru",
    "interia.pl",
    "laposte.net",
    "libero.it",
    "list.ru",
    "mac.com",
    "mail.com",
    "mail.ru",
    "me.com",
    "msn.com",
    "naver.com",
    "onet.pl",
    "orange.fr",
    "pm.me",
    "proton.me",
    "protonmail.ch",
    "protonmail.com",
    "qq.com",
    "rambler.ru",
    "rediffmail.com",
    "rocketmail.com",
    "sbcglobal.net",
    "seznam.cz",
    "sina.com",
    "sky.com",
    "t-online.de",
    "tuta.io",
    "tutanota.com",
    "tutanota.de",
    "ukr.net",
    "verizon.net",
    "virgilio.it",
    "web.de",
    "wp.pl",
    "yeah.net",
    "ymail.com",
    "zoho.com",
    "zohomail.com",
];

/// Consumer mail brands present under many public suffixes (`yahoo.co.jp`, `hotmail.fr`,
/// `gmx.de`, `outlook.com.br`, …), matched on the registrable domain's first label.
const FREE_MAIL_BRANDS: &[&str] = &["aol", "gmx", "hotmail", "live", "outlook", "yahoo", "yandex"];

/// The company domain of `email`: the lower-cased registrable domain (`Ada+x@Mail.Acme.com` →
/// `acme.com`), or `None` when the address is not plausible (one `@`, a non-empty local part
/// without spaces, an ASCII domain of at least two valid labels under a known public suffix;
/// internationalised domains must arrive in their `xn--` form), or belongs to a consumer or
/// disposable mail provider.
pub fn company_domain(email: &str) -> Option<String> {
    let domain = email_domain(email)?;
    let registrable = registrable(&domain)?;
    if is_free_mail(registrable) || disposable_emails::is_disposable_domain(registrable) || disposable_emails::is_disposable_domain(&domain)
    {
        return None;
    }
    Some(registrable.to_string())
}

/// A display name guessed from a domain: the registrable domain without its public suffix,
/// split on `-`, `_` and `.`, each word capitalised (`acme-corp.co.uk` → `Acme Corp`,
/// `mail.acme.com` → `Acme`). A heuristic: it cannot know acronyms (`ibm.com` → `Ibm`) or
/// run-together words (`bigco.com` → `Bigco`); prefer a name the host sends.
pub fn company_name_from_domain(domain: &str) -> String {
    let domain = domain.trim().trim_end_matches('.').to_ascii_lowercase();
    let stem = match psl::domain(domain.as_bytes()) {
        Some(d) if d.suffix().is_known() => {
            let registrable = std::str::from_utf8(d.as_bytes()).unwrap_or(&domain);
            registrable.split('.').next().unwrap_or_default()
        }
        _ => domain.split('.').next().unwrap_or_default(),
    };
    stem.split(['-', '_', '.'])
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut c = w.chars();
            c.next().map(|f| f.to_ascii_uppercase().to_string() + c.as_str()).unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The lower-cased domain of a plausible address, without a trailing dot.
fn email_domain(email: &str) -> Option<String> {
    let email = email.trim();
    if email.len() > MAX_EMAIL_LEN {
        return None;
    }
    let (local, domain) = email.rsplit_once('@')?;
    if local.is_empty() || local.len() > MAX_LOCAL_LEN || local.contains('@') || local.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return None;
    }
    let domain = domain.strip_suffix('.').unwrap_or(domain).to_ascii_lowercase();
    let labels: Vec<&str> = domain.split('.').collect();
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= MAX_LABEL_LEN
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    let tld_ok = labels.last().is_some_and(|t| !t.bytes().all(|b| b.is_ascii_digit()));
    (labels.len() >= 2 && labels.iter().all(label_ok) && tld_ok).then_some(domain)
}

/// The registrable part of a lower-cased domain, when its suffix is in the Public Suffix List.
fn registrable(domain: &str) -> Option<&str> {
    let d = psl::domain(domain.as_bytes())?;
    if !d.suffix().is_known() {
        return None;
    }
    std::str::from_utf8(d.as_bytes()).ok()
}

/// True for a consumer mail provider's registrable domain.
fn is_free_mail(registrable: &str) -> bool {
    let brand = registrable.split('.').next().unwrap_or_default();
    FREE_MAIL_DOMAINS.binary_search(&registrable).is_ok() || FREE_MAIL_BRANDS.contains(&brand)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cd(email: &str) -> Option<String> {
        company_domain(email)
    }

    #[test]
    fn work_addresses_give_the_registrable_domain_in_lower_case() {
        assert_eq!(cd("ada@acme.com").as_deref(), Some("acme.com"));
        assert_eq!(cd("Ada.Lovelace@ACME.Com").as_deref(), Some("acme.com"));
        assert_eq!(cd("ada+rage-test@acme.com").as_deref(), Some("acme.com"), "plus-addressing");
        assert_eq!(cd("ada@mail.acme.com").as_deref(), Some("acme.com"), "subdomain");
        assert_eq!(cd("ada@eng.acme-corp.co.uk").as_deref(), Some("acme-corp.co.uk"), "multi-label public suffix");
        assert_eq!(cd("  ada@acme.com.  ").as_deref(), Some("acme.com"), "trailing dot and spaces");
        assert_eq!(cd("ada@xn--bcher-kva.de").as_deref(), Some("xn--bcher-kva.de"), "punycode");
        assert_eq!(cd("ada@cs.stanford.edu").as_deref(), Some("stanford.edu"));
    }

    #[test]
    fn consumer_providers_give_none() {
        for e in [
            "a@gmail.com",
            "A@GMAIL.COM",
            "a@googlemail.com",
            "a@outlook.com",
            "a@hotmail.co.uk",
            "a@live.fr",
            "a@yahoo.com",
            "a@yahoo.co.jp",
            "a@mail.yahoo.co.uk",
            "a@proton.me",
            "a@protonmail.com",
            "a@icloud.com",
            "a@me.com",
            "a@aol.com",
            "a@gmx.de",
            "a@yandex.ru",
            "a@qq.com",
            "a@mail.ru",
        ] {
            assert_eq!(cd(e), None, "{e}");
        }
    }

    #[test]
    fn disposable_providers_give_none() {
        // None of these is in our consumer list: they come from the disposable-emails crate.
        for e in ["a@mailinator.com", "a@guerrillamail.com", "a@10minutemail.com", "a@yopmail.com", "a@sharklasers.com"] {
            assert!(!is_free_mail(&e[2..]), "{e} must be caught by the disposable list, not ours");
            assert_eq!(cd(e), None, "{e}");
        }
    }

    #[test]
    fn garbage_gives_none() {
        let long = format!("a@{}.com", "x".repeat(MAX_EMAIL_LEN));
        let long_label = format!("a@{}.com", "x".repeat(MAX_LABEL_LEN + 1));
        let long_local = format!("{}@acme.com", "x".repeat(MAX_LOCAL_LEN + 1));
        for e in [
            "",
            "acme.com",
            "@acme.com",
            "a@",
            "a@acme",
            "a@@acme.com",
            "a@b@acme.com",
            "a b@acme.com",
            "a@-acme.com",
            "a@acme-.com",
            "a@acme..com",
            "a@.acme.com",
            "a@[192.168.0.1]",
            "a@192.168.0.1",
            "a@acme.notarealtld",
            "a@co.uk",
            "a@bücher.de",
            "a@acme_corp.com",
            &long,
            &long_label,
            &long_local,
        ] {
            assert_eq!(cd(e), None, "{e:?}");
        }
        // Just inside the label limit is fine.
        assert!(cd(&format!("a@{}.com", "x".repeat(MAX_LABEL_LEN))).is_some());
    }

    #[test]
    fn names_are_guessed_from_the_registrable_label() {
        assert_eq!(company_name_from_domain("acme-corp.co.uk"), "Acme Corp");
        assert_eq!(company_name_from_domain("mail.acme.com"), "Acme");
        assert_eq!(company_name_from_domain("ACME_Widgets.io"), "Acme Widgets");
        assert_eq!(company_name_from_domain("ibm.com"), "Ibm");
        assert_eq!(company_name_from_domain("localhost"), "Localhost");
        assert_eq!(company_name_from_domain("--.com"), "");
        assert_eq!(company_name_from_domain(""), "");
    }

    #[test]
    fn the_consumer_list_is_sorted_lower_case_and_disjoint_from_the_brands() {
        assert!(FREE_MAIL_DOMAINS.windows(2).all(|w| w[0] < w[1]), "binary search needs a sorted, duplicate-free list");
        assert!(FREE_MAIL_DOMAINS.iter().all(|d| d.bytes().all(|b| !b.is_ascii_uppercase()) && registrable(d) == Some(*d)));
        assert!(FREE_MAIL_DOMAINS.iter().all(|d| !FREE_MAIL_BRANDS.contains(&d.split('.').next().unwrap())));
    }
}
