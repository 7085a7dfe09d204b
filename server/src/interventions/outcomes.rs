//! Outcomes: what the host reported (from its backend through the API, or from the page through
//! the SDK), attributed to the newest decision of the session or person within the tenant's window.
//! Both doors call [`record`].

use crate::records::{OutcomeFor, Tenant};
use crate::store::{LearningStore, StoreError};

/// Whether an outcome without an explicit `converted` counts as a conversion: every event but
/// `cancel` and `churn`.
pub fn converted_by_default(event: &str) -> bool {
    !matches!(event, "cancel" | "churn")
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
/// tenant's outcome window; `converted` defaults by [`converted_by_default`].
pub async fn record(
    store: &dyn LearningStore,
    tenant: &Tenant,
    who: OutcomeFor<'_>,
    event: &str,
    converted: Option<bool>,
    now_ms: i64,
) -> Result<Recorded, StoreError> {
    let converted = converted.unwrap_or_else(|| converted_by_default(event));
    let decision = store.record_outcome(&tenant.id, who, now_ms - tenant.outcome_window_ms, event, converted, now_ms).await?;
    Ok(Recorded { converted, decision })
}
