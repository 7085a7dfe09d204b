//! Conversation cards: the facts a card's opener is written from, and the rule-based template
//! (the default, and the fallback whenever a configured model fails: [`super::opener`](mod@super::opener)).

use shared_physics::Emotion;

use crate::records::format::money;
use crate::records::Context;

/// What a card's opener is written from.
#[derive(Clone, Debug, PartialEq)]
pub struct CardFacts<'a> {
    /// The customer's name, if their token carried one.
    pub name: Option<&'a str>,
    /// Their account's name.
    pub account: Option<&'a str>,
    /// The account's lifetime value, cents.
    pub value_cents: i64,
    /// What they told us (`busy`, `stuck`, `exploring`, `frustrated`).
    pub context: Option<Context>,
    /// The emotion detected.
    pub emotion: Emotion,
    /// Where (section name, may be empty).
    pub section: &'a str,
}

/// The opener a human gets on a conversation card: rule-based, from the identity, the shared
/// state and the detection only (no invented facts). The first sentence is for the human
/// (who, worth what, what happened where), the quoted one is what they might say.
pub fn opener(f: &CardFacts<'_>) -> String {
    let who = match (f.name, f.account) {
        (Some(n), Some(a)) => format!("{n} ({a})"),
        (Some(n), None) => n.to_string(),
        (None, Some(a)) => format!("A customer of {a}"),
        (None, None) => "An anonymous visitor".to_string(),
    };
    let worth = if f.value_cents > 0 { format!(", an account worth {}", money(f.value_cents)) } else { String::new() };
    let place = if f.section.is_empty() { String::new() } else { format!(" on {}", f.section) };
    let what = match f.emotion {
        Emotion::Rage => "is clicking repeatedly at something that does not respond",
        Emotion::Frustration => "keeps clicking things that do nothing",
        Emotion::Confusion => "is going back and forth without finding their way",
        Emotion::Hesitation => "is hesitating between options",
        Emotion::Abandonment => "looks about to leave",
        Emotion::Engaged => "is reading attentively",
    };
    let said = match f.context {
        Some(Context::Stuck) => " They told us they are stuck.",
        Some(Context::Frustrated) => " They told us they are frustrated.",
        Some(Context::Exploring) => " They told us they are just exploring.",
        Some(Context::Busy) => " They told us they are busy: keep it short.",
        _ => "",
    };
    let first = f.name.map(|n| n.split_whitespace().next().unwrap_or(n)).unwrap_or("there");
    let line = match f.emotion {
        Emotion::Hesitation => format!("Hi {first}, happy to help you compare{place}: what matters most to you?"),
        Emotion::Abandonment => format!("Hi {first}, before you go: is there anything I can sort out for you right now?"),
        _ => format!("Hi {first}, it looks like something{place} is not working for you. I can fix it with you right now."),
    };
    format!("{who}{worth} {what}{place}.{said} Suggested opener: \"{line}\"")
}
