//! What a query request carries down to the storage clients it reaches: the caller's bearer token
//! (Jaeger's `--es.bearer-token-propagation`).
//!
//! The token lives in a tokio task-local for the duration of one request's future, so it never
//! reaches another request or a spawned task (the bulk writer's tasks never see it). It is a secret:
//! nothing here logs or prints it, and [`current_bearer_token`] is read only by Elasticsearch targets
//! that set `bearer_token_propagation`.

use std::future::Future;
use std::sync::Arc;

tokio::task_local! {
    /// The bearer token of the request being served, if any. Set with [`with_bearer_token`].
    pub static BEARER_TOKEN: Option<Arc<str>>;
}

/// Runs `f` with `token` as the current request's bearer token (an empty token counts as none).
pub async fn with_bearer_token<F: Future>(token: Option<String>, f: F) -> F::Output {
    let token = token.filter(|token| !token.is_empty()).map(Arc::<str>::from);
    BEARER_TOKEN.scope(token, f).await
}

/// The bearer token of the request this task is serving, or `None` outside [`with_bearer_token`].
pub fn current_bearer_token() -> Option<Arc<str>> {
    BEARER_TOKEN.try_with(Clone::clone).ok().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn token_is_set_inside_the_scope_and_absent_outside() {
        assert_eq!(current_bearer_token(), None);
        let inside = with_bearer_token(Some("secret-token".into()), async { current_bearer_token() }).await;
        assert_eq!(inside.as_deref(), Some("secret-token"));
        assert_eq!(current_bearer_token(), None);
    }

    #[tokio::test]
    async fn empty_token_counts_as_none() {
        let inside = with_bearer_token(Some(String::new()), async { current_bearer_token() }).await;
        assert_eq!(inside, None);
        let inside = with_bearer_token(None, async { current_bearer_token() }).await;
        assert_eq!(inside, None);
    }

    #[tokio::test]
    async fn token_does_not_leak_into_spawned_tasks_or_concurrent_futures() {
        let (spawned, other) = with_bearer_token(Some("a".into()), async {
            let spawned = tokio::spawn(async { current_bearer_token() }).await.unwrap();
            let other = with_bearer_token(Some("b".into()), async {
                tokio::task::yield_now().await;
                current_bearer_token()
            })
            .await;
            (spawned, other)
        })
        .await;
        assert_eq!(spawned, None);
        assert_eq!(other.as_deref(), Some("b"));
        let unscoped = async {
            tokio::task::yield_now().await;
            current_bearer_token()
        };
        let scoped = |token: &'static str| {
            with_bearer_token(Some(token.into()), async {
                tokio::task::yield_now().await;
                current_bearer_token()
            })
        };
        let (unscoped, c, d) = tokio::join!(unscoped, scoped("c"), scoped("d"));
        assert_eq!(unscoped, None);
        assert_eq!(c.as_deref(), Some("c"));
        assert_eq!(d.as_deref(), Some("d"));
    }
}
