//! Replays the fuzz corpus of the signaling server's client frames
//! (`fuzz/corpus/signaling_frame/`) on the stable toolchain.

#[path = "../fuzz/checks_signaling.rs"]
mod checks_signaling;

use std::path::PathBuf;

#[test]
fn signaling_frame_corpus() -> Result<(), Box<dyn std::error::Error>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/signaling_frame");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let path = entry?.path();
        let data = std::fs::read(&path)?;
        if std::panic::catch_unwind(|| checks_signaling::signaling_frame(&data)).is_err() {
            return Err(format!("{} fails its check", path.display()).into());
        }
        n += 1;
    }
    assert!(n > 0, "no corpus in {}", dir.display());
    Ok(())
}
