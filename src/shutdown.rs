//! Graceful shutdown: SIGINT/SIGTERM (or a failing component) stop the receivers and servers;
//! the admin server stops last so health reports "not available" while the rest drains.

use tokio::sync::watch;

#[derive(Clone)]
pub struct Shutdown {
    stop: watch::Sender<bool>,
    admin: watch::Sender<bool>,
}

impl Shutdown {
    /// A shutdown triggered by SIGINT or SIGTERM.
    pub fn on_signals() -> Self {
        let shutdown = Self { stop: watch::channel(false).0, admin: watch::channel(false).0 };
        let trigger = shutdown.clone();
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!("shutdown requested");
            trigger.trigger();
        });
        shutdown
    }

    pub fn trigger(&self) {
        self.stop.send_replace(true);
    }

    /// Completes once shutdown was triggered.
    pub fn stopped(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut receiver = self.stop.subscribe();
        async move {
            let _ = receiver.wait_for(|stopped| *stopped).await;
        }
    }

    pub fn stop_admin(&self) {
        self.admin.send_replace(true);
    }

    pub fn admin_stopped(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut receiver = self.admin.subscribe();
        async move {
            let _ = receiver.wait_for(|stopped| *stopped).await;
        }
    }
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
