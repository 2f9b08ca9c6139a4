//! Who made the request being served: the user its HTTP basic authentication named ('' when
//! the server asks for no credentials), for the namespaces that record who asked for what
//! (the cluster's history). Set by the HTTP front around each call, read by the namespace
//! within that call (a task-local: nothing to thread through the dispatcher).

use std::future::Future;

tokio::task_local! {
    static USER: String;
}

/// The user of the request being served ('' outside of one, or without credentials).
pub fn user() -> String {
    USER.try_with(String::clone).unwrap_or_default()
}

/// Runs `f` as a call made by `user`.
pub async fn scope<F: Future>(user: String, f: F) -> F::Output {
    USER.scope(user, f).await
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn the_user_is_known_within_the_call_only() {
        assert_eq!(super::user(), "");
        let inside = super::scope("alice".into(), async { super::user() }).await;
        assert_eq!(inside, "alice");
        assert_eq!(super::user(), "");
    }
}
