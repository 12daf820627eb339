//! A value that a replay check leaves out of its comparison of two runs.

/// A value left out of the comparison of two runs (`check_replay` compares outputs with `==`):
/// for what is the process's rather than the world's, such as task ids and addresses.
#[derive(Debug)]
pub struct Unequal<T>(pub T);

impl<T> PartialEq for Unequal<T> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
