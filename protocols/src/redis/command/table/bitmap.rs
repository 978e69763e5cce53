//! Bitmap and HyperLogLog commands.

use super::CommandSpec;

pub(super) const COMMANDS: &[CommandSpec] = &[];
