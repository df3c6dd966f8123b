//! Progress bars for blob transfers (on stderr; hidden unless asked for).

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// One bar per blob transfer, all under one [`MultiProgress`].
#[derive(Clone)]
pub(crate) struct Progress {
    multi: Option<MultiProgress>,
}

impl Progress {
    /// Bars on stderr when `show`, else nothing is drawn.
    pub(crate) fn new(show: bool) -> Self {
        Progress {
            multi: show.then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr())),
        }
    }

    /// A bar for moving `len` bytes (unknown when `None`), labelled `label`.
    pub(crate) fn bar(&self, label: &str, len: Option<u64>) -> ProgressBar {
        let Some(multi) = &self.multi else {
            return ProgressBar::hidden();
        };
        let bar = multi.add(ProgressBar::new(len.unwrap_or(0)));
        let template = if len.is_some() {
            "{prefix:>20} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}"
        } else {
            "{prefix:>20} {spinner} {bytes} {bytes_per_sec}"
        };
        bar.set_style(
            ProgressStyle::with_template(template)
                .expect("the template is valid")
                .progress_chars("=> "),
        );
        bar.set_prefix(label.to_string());
        bar
    }
}

/// `sha256:0123456789ab…` → `0123456789ab`, for bar labels.
pub(crate) fn short(digest: &str) -> &str {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    &hex[..hex.len().min(12)]
}
