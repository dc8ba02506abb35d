//! Error collection: validation records every problem and reports them together.

/// Collects `syn::Error`s with [`syn::Error::combine`], so one expansion reports all of them.
#[derive(Default)]
pub(crate) struct Errors {
    combined: Option<syn::Error>,
}

impl Errors {
    /// Records one error.
    pub(crate) fn push(&mut self, error: syn::Error) {
        match &mut self.combined {
            Some(combined) => combined.combine(error),
            None => self.combined = Some(error),
        }
    }

    /// Records the error of a failed step, keeping the value of a successful one.
    pub(crate) fn record<T>(&mut self, result: syn::Result<T>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(error) => {
                self.push(error);
                None
            }
        }
    }

    /// `Err` with every recorded error, or `Ok(())` when there were none.
    pub(crate) fn finish(self) -> syn::Result<()> {
        match self.combined {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use proc_macro2::Span;

    use super::Errors;

    #[test]
    fn finish_reports_every_error_in_order() {
        let mut errors = Errors::default();
        errors.push(syn::Error::new(Span::call_site(), "first"));
        assert_eq!(
            errors.record::<()>(Err(syn::Error::new(Span::call_site(), "second"))),
            None
        );
        assert_eq!(errors.record(Ok(1)), Some(1));
        let messages: Vec<String> = errors
            .finish()
            .expect_err("two errors were pushed")
            .into_iter()
            .map(|e| e.to_string())
            .collect();
        assert_eq!(messages, ["first", "second"]);
    }

    #[test]
    fn finish_without_errors_is_ok() {
        assert!(Errors::default().finish().is_ok());
    }
}
