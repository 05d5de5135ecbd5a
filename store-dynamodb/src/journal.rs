//! A patch journal as DynamoDB items (pure). An item holds at most 400 KB, and a journal
//! may carry megabytes of file contents, so each file's `before` and `after` are cut into
//! [`CHUNK_BYTES`] pieces, one item each in the journals table, keyed
//! `<patch>#<generation>#<file>#<side>#<part>` (side `b`efore or `a`fter). The patch item lists the files with each
//! side's length (`None` = the file did not exist), which is how a reader knows the join is
//! whole. A replaced journal is written under a new generation before the patch item points
//! at it, so a reader never sees half of one.

use devflow_store::JournalFile;
use serde::{Deserialize, Serialize};

/// Bytes of file contents per journal item (below the 400 KB item limit with the key).
pub(crate) const CHUNK_BYTES: usize = 300 * 1024;

/// One file of a journal as the patch item lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FileEntry {
    pub path: String,
    pub before: Option<u64>,
    pub after: Option<u64>,
}

/// One journal item: its sort key and its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Chunk {
    pub key: String,
    pub data: Vec<u8>,
}

/// The sort-key prefix of every chunk of one generation of a patch's journal.
pub(crate) fn prefix(patch_id: &str, generation: &str) -> String {
    format!("{patch_id}#{generation}#")
}

fn chunk_key(patch_id: &str, generation: &str, file: usize, side: char, part: usize) -> String {
    // Zero-padded so the string order of the keys is the order of the bytes.
    format!("{}{file:06}#{side}#{part:06}", prefix(patch_id, generation))
}

/// The file list and the chunks that store `files`.
pub(crate) fn split(
    patch_id: &str,
    generation: &str,
    files: &[JournalFile],
) -> (Vec<FileEntry>, Vec<Chunk>) {
    let mut entries = Vec::with_capacity(files.len());
    let mut chunks = Vec::new();
    for (index, file) in files.iter().enumerate() {
        for (side, bytes) in [('b', &file.before), ('a', &file.after)] {
            let Some(bytes) = bytes else { continue };
            for (part, piece) in bytes.chunks(CHUNK_BYTES).enumerate() {
                chunks.push(Chunk {
                    key: chunk_key(patch_id, generation, index, side, part),
                    data: piece.to_vec(),
                });
            }
        }
        entries.push(FileEntry {
            path: file.path.clone(),
            before: file.before.as_ref().map(|b| b.len() as u64),
            after: file.after.as_ref().map(|b| b.len() as u64),
        });
    }
    (entries, chunks)
}

/// The files back from their list and chunks (in any order); an error says what is missing.
pub(crate) fn join(
    patch_id: &str,
    generation: &str,
    entries: &[FileEntry],
    chunks: Vec<Chunk>,
) -> Result<Vec<JournalFile>, String> {
    let mut pieces: std::collections::HashMap<String, Vec<u8>> =
        chunks.into_iter().map(|c| (c.key, c.data)).collect();
    let mut files = Vec::with_capacity(entries.len());
    for (index, entry) in entries.iter().enumerate() {
        let mut side_bytes = |side: char, length: Option<u64>| -> Result<Option<Vec<u8>>, String> {
            let Some(length) = length else {
                return Ok(None);
            };
            let mut bytes = Vec::with_capacity(usize::try_from(length).unwrap_or(0));
            let mut part = 0;
            while (bytes.len() as u64) < length {
                let key = chunk_key(patch_id, generation, index, side, part);
                match pieces.remove(&key) {
                    Some(data) if !data.is_empty() => bytes.extend_from_slice(&data),
                    _ => return Err(format!("journal piece {key} is missing")),
                }
                part += 1;
            }
            if bytes.len() as u64 != length {
                return Err(format!(
                    "{} of {} has {} bytes in the journal, {length} listed",
                    if side == 'b' { "before" } else { "after" },
                    entry.path,
                    bytes.len()
                ));
            }
            Ok(Some(bytes))
        };
        let before = side_bytes('b', entry.before)?;
        let after = side_bytes('a', entry.after)?;
        files.push(JournalFile {
            path: entry.path.clone(),
            before,
            after,
        });
    }
    if let Some(extra) = pieces.keys().min() {
        return Err(format!("journal piece {extra} belongs to no file"));
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, before: Option<Vec<u8>>, after: Option<Vec<u8>>) -> JournalFile {
        JournalFile {
            path: path.into(),
            before,
            after,
        }
    }

    #[test]
    fn files_of_every_shape_and_size_round_trip_in_any_chunk_order() {
        let big: Vec<u8> = (0..(CHUNK_BYTES * 2 + 17))
            .map(|i| (i % 251) as u8)
            .collect();
        let files = vec![
            file(
                "a.css",
                Some(b"a {}".to_vec()),
                Some(b"a { color: red }".to_vec()),
            ),
            file("new.css", None, Some(Vec::new())),
            file("gone.html", Some(Vec::new()), None),
            file(
                "big.bin",
                Some(big.clone()),
                Some(big[..CHUNK_BYTES].to_vec()),
            ),
        ];
        let (entries, mut chunks) = split("p1", "g1", &files);
        assert_eq!(chunks.len(), 1 + 1 + 3 + 1, "empty sides take no item");
        assert!(chunks.iter().all(|c| c.data.len() <= CHUNK_BYTES));
        chunks.reverse();
        assert_eq!(join("p1", "g1", &entries, chunks).expect("join"), files);
    }

    #[test]
    fn a_missing_or_stray_piece_is_an_error_not_a_shorter_file() {
        let files = vec![file("a.css", Some(vec![1; CHUNK_BYTES + 1]), None)];
        let (entries, chunks) = split("p1", "g1", &files);
        let error = join("p1", "g1", &entries, chunks[..1].to_vec()).expect_err("missing");
        assert!(error.contains("p1#g1#000000#b#000001"), "{error}");
        let mut extra = chunks.clone();
        extra.push(Chunk {
            key: "p1#g1#000009#a#000000".into(),
            data: vec![0],
        });
        let error = join("p1", "g1", &entries, extra).expect_err("stray");
        assert!(error.contains("belongs to no file"), "{error}");
    }
}
