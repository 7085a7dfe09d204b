//! Steps the journeys share: a visitor settling into the store page, a rage burst at a dead
//! button, the help that appears in the page, and the signed link in the CEO's text.

use std::time::Duration;

use crate::browser::{BrowserError, Chromium, Point, Tab};
use crate::host::{Stats, TenantApi};

/// The store's deliberately dead button.
pub const DEAD_BUTTON: &str = "#apply-coupon";
/// The rage burst of the journeys: clicks, interval between them, jitter radius (px).
pub const RAGE_BURST: (u32, Duration, f64) = (5, Duration::from_millis(150), 2.0);
/// JS: the text the SDK's intervention box shows (its own text, without the close button's
/// glyph), or `null` while there is none.
pub const INTERVENTION_TEXT_JS: &str = "(() => { const e = document.querySelector('[data-siq-intervention]'); if (!e) return null; \
     const t = [...e.childNodes].filter(n => n.nodeType === Node.TEXT_NODE).map(n => n.textContent).join('').trim(); \
     return t ? t : null; })()";
/// Added to a document before its scripts: records the `detail` of every `sentientiq:intervene`
/// event in `window.__siqIntervened`.
pub const INTERVENE_RECORDER_JS: &str =
    "window.__siqIntervened = []; addEventListener('sentientiq:intervene', e => window.__siqIntervened.push(e.detail));";
/// JS: the recorded `sentientiq:intervene` details.
pub const INTERVENE_EVENTS_JS: &str = "window.__siqIntervened";
/// How long a journey waits for something the product does within seconds.
pub const PATIENCE: Duration = Duration::from_secs(15);

/// The `detail` of a `sentientiq:intervene` event.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
pub struct InterveneDetail {
    /// Intervention id.
    pub id: serde_json::Value,
    /// The emotion it answers.
    pub emotion: String,
    /// The text for the visitor.
    pub text: String,
}

/// Opens `url` in a new tab of `chromium` that records `sentientiq:intervene` events from the
/// first script on ([`INTERVENE_RECORDER_JS`]).
pub async fn open_recording(chromium: &Chromium, url: &str, seed: u64) -> Result<Tab, BrowserError> {
    let tab = chromium.open("about:blank", seed).await?;
    tab.add_init_script(INTERVENE_RECORDER_JS).await?;
    tab.goto(url).await?;
    Ok(tab)
}

/// Moves around the catalog until the server has counted frames from this page beyond
/// `frames_before` (the SDK has loaded, said hello and streams), and returns the counters.
pub async fn settle_in(tab: &mut Tab, api: &TenantApi, frames_before: u64) -> Result<Stats, String> {
    let spots = [Point::new(260.0, 330.0), Point::new(520.0, 420.0), Point::new(380.0, 560.0), Point::new(640.0, 300.0)];
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let mut last = Stats::default();
    for spot in spots.iter().cycle() {
        tab.move_to(*spot).await.map_err(|e| e.to_string())?;
        match api.stats().await {
            Ok(stats) if stats.frames > frames_before => return Ok(stats),
            Ok(stats) => last = stats,
            Err(e) => return Err(format!("reading the tenant's counters: {e}")),
        }
        if tokio::time::Instant::now() >= deadline {
            break;
        }
        tab.pause(Duration::from_millis(300)).await;
    }
    Err(format!(
        "the page never streamed to the server within {PATIENCE:?} (frames stayed at {}; SDK not loaded, not connected, or not sending physics): {last:?}",
        last.frames
    ))
}

/// Reaches for `selector` with the pointer and clicks it in a [`RAGE_BURST`].
pub async fn rage_at(tab: &mut Tab, selector: &str) -> Result<(), BrowserError> {
    let target = tab.reveal(selector).await?;
    tab.move_to(target).await?;
    tab.pause(Duration::from_millis(250)).await;
    let (clicks, interval, jitter) = RAGE_BURST;
    tab.rage_click(clicks, interval, jitter).await
}

/// The first `{server_url}/s/…` link in an alert text.
pub fn session_link(text: &str, server_url: &str) -> Option<String> {
    let prefix = format!("{}/s/", server_url.trim_end_matches('/'));
    let start = text.find(&prefix)?;
    let link: String = text[start..].chars().take_while(|c| !c.is_whitespace()).collect();
    Some(link.trim_end_matches(['.', ',', ')', '>']).to_string())
}

/// `link` with the last hex digit of its `sig` flipped: same length, wrong signature.
pub fn tamper_signature(link: &str) -> Option<String> {
    let at = link.find("sig=")? + 4;
    let end = link[at..].find('&').map_or(link.len(), |i| at + i);
    let last = link[at..end].chars().last()?;
    let flipped = if last == '0' { '1' } else { '0' };
    Some(format!("{}{flipped}{}", &link[..end - 1], &link[end..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_link_is_found_in_the_text_and_its_signature_can_be_broken() {
        let body = "Jane Doe (Acme Corp, $100,000) is raging on checkout (92%). Watch: http://127.0.0.1:9/s/42?t=t1&exp=9&sig=ab0f. Reply 1 to ack";
        let link = session_link(body, "http://127.0.0.1:9/").unwrap();
        assert_eq!(link, "http://127.0.0.1:9/s/42?t=t1&exp=9&sig=ab0f");
        assert_eq!(tamper_signature(&link).unwrap(), "http://127.0.0.1:9/s/42?t=t1&exp=9&sig=ab00");
        assert_eq!(tamper_signature("http://h/s/1?sig=a1&t=x").unwrap(), "http://h/s/1?sig=a0&t=x");
        assert_eq!(session_link(body, "http://elsewhere"), None);
    }
}
