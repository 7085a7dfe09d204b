//! Outcomes: what the host reported (from its backend through the API, or from the page through
//! the SDK), attributed to the newest decision of the session or person within the tenant's window.
//! Both doors call [`record`].
//!
//! Who vouches for an outcome decides what it may teach. The host's backend (secret key or a
//! member's session) and the page of an identified visitor (a token the host signed) are
//! [`Vouch::Verified`]: the outcome counts on the decision's arm and in the uplift. A page of an
//! anonymous session is [`Vouch::Unverified`]: anyone holding the public site key could send it,
//! so it is recorded on the decision (and exported, marked) but moves neither the bandit's
//! posterior nor the uplift, and a verified outcome for the same decision still takes its place.

use crate::records::{OutcomeFor, Tenant};
use crate::store::{LearningStore, StoreError};

/// Whether an outcome without an explicit `converted` counts as a conversion: every event but
/// `cancel` and `churn`.
pub fn converted_by_default(event: &str) -> bool {
    !matches!(event, "cancel" | "churn")
}

/// Who vouches for an outcome (the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Vouch {
    /// The host's backend, or the page of a visitor its token identified: teaches the bandit.
    Verified,
    /// The page of an anonymous session: recorded, teaches nothing.
    Unverified,
}

/// An outcome as recorded: whether it counted as a conversion, and the decision it was
/// attributed to (none when no decision of the session or person is in the window).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recorded {
    /// Whether it counts as a conversion.
    pub converted: bool,
    /// The decision it was attributed to.
    pub decision: Option<String>,
}

/// Records `event` for `who` at `now_ms`, attributed to their newest decision within the
/// tenant's outcome window; `converted` defaults by [`converted_by_default`]; `vouch` says
/// whether it may teach the bandit.
pub async fn record(
    store: &dyn LearningStore,
    tenant: &Tenant,
    who: OutcomeFor<'_>,
    event: &str,
    converted: Option<bool>,
    vouch: Vouch,
    now_ms: i64,
) -> Result<Recorded, StoreError> {
    let converted = converted.unwrap_or_else(|| converted_by_default(event));
    let since = now_ms - tenant.outcome_window_ms;
    let decision = store.record_outcome(&tenant.id, who, since, event, converted, vouch == Vouch::Verified, now_ms).await?;
    Ok(Recorded { converted, decision })
}
