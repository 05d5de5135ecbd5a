//! Opening an uploaded file as a zip and listing its central directory as
//! [`ArchiveEntry`] values for the policy. Tells "not a zip" (checked by content, never by
//! file name) apart from "a damaged zip", and recovers entries the `zip` crate folds together
//! when the directory lists one name twice, so the policy sees every record.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use zip::result::ZipError;
use zip::{CompressionMethod, ZipArchive};

use crate::error::{display_name, IngestError};
use crate::policy::{ArchiveEntry, Compression};

const CENTRAL_HEADER_SIGNATURE: u32 = 0x0201_4b50;
/// Bytes of a central directory header after its signature, up to the file name.
const CENTRAL_HEADER_FIXED: usize = 42;

/// An open zip and its central directory, one [`ArchiveEntry`] per record.
pub(crate) struct Archive {
    pub(crate) zip: ZipArchive<BufReader<File>>,
    pub(crate) entries: Vec<ArchiveEntry>,
    /// For each of `entries`, the index the `zip` crate reads it by.
    pub(crate) indices: Vec<usize>,
}

pub(crate) fn open(path: &Path) -> Result<Archive, IngestError> {
    let io_error = |action| {
        move |source| IngestError::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    };
    let mut file = File::open(path).map_err(io_error("open the zip"))?;
    let mut head = Vec::with_capacity(8);
    (&mut file)
        .take(8)
        .read_to_end(&mut head)
        .map_err(io_error("read the zip"))?;
    file.seek(SeekFrom::Start(0))
        .map_err(io_error("read the zip"))?;

    let zip = match ZipArchive::new(BufReader::new(file)) {
        Ok(zip) => zip,
        Err(ZipError::Io(source)) if source.kind() != io::ErrorKind::UnexpectedEof => {
            return Err(io_error("read the zip")(source))
        }
        // A zip starts with a local header (or, empty, with the end record); a
        // self-extracting one with an executable, but then it opens.
        Err(_) if !head.starts_with(b"PK") => {
            return Err(IngestError::NotAZip {
                looks_like: sniff(&head),
            })
        }
        Err(error) => {
            return Err(IngestError::Corrupt {
                detail: describe(&error),
            })
        }
    };

    let mut entries = Vec::with_capacity(zip.len());
    let mut indices = Vec::with_capacity(zip.len());
    for index in 0..zip.len() {
        let data = zip
            .by_index_data(index)
            .map_err(|error| IngestError::Corrupt {
                detail: describe(&error),
            })?;
        entries.push(ArchiveEntry {
            name: data.name_raw().to_vec(),
            unix_mode: data.unix_mode(),
            compression: compression(data.compression()),
            compressed_size: data.compressed_size(),
            size: data.size(),
            encrypted: data.encrypted(),
        });
        indices.push(index);
    }

    let mut archive = Archive {
        zip,
        entries,
        indices,
    };
    if archive.zip.has_duplicate_names() {
        restore_duplicates(path, &mut archive)?;
    }
    Ok(archive)
}

/// The `zip` crate keeps one record per name, so a second `index.html` would vanish
/// silently. Walk the central directory ourselves and list every record where it stands;
/// one the crate dropped becomes a copy of the record that kept its name, so the policy
/// refuses the zip naming the duplicate, like any other.
fn restore_duplicates(path: &Path, archive: &mut Archive) -> Result<(), IngestError> {
    let io_error = |source| IngestError::Io {
        action: "read the zip",
        path: path.to_path_buf(),
        source,
    };
    let mut reader = BufReader::new(File::open(path).map_err(io_error)?);
    let records =
        central_directory(&mut reader, archive.zip.central_directory_start()).map_err(|error| {
            IngestError::Corrupt {
                detail: error.to_string(),
            }
        })?;

    let mut kept = HashMap::new();
    for index in 0..archive.zip.len() {
        if let Ok(data) = archive.zip.by_index_data(index) {
            kept.insert(data.central_header_start(), index);
        }
    }
    let mut entries = Vec::with_capacity(records.len());
    let mut indices = Vec::with_capacity(records.len());
    let mut seen = 0;
    for (offset, name) in records {
        let index = match kept.get(&offset) {
            Some(&index) => {
                seen += 1;
                index
            }
            None => match archive.zip.index_for_name_raw(&name) {
                Some(twin) => twin,
                // Only when a Unicode Path extra field renamed the record that kept the name.
                None => {
                    return Err(IngestError::Duplicate {
                        entry: display_name(&name),
                    })
                }
            },
        };
        let Some(entry) = archive.entries.get(index) else {
            return Err(IngestError::Corrupt {
                detail: "its central directory is inconsistent".into(),
            });
        };
        entries.push(entry.clone());
        indices.push(index);
    }
    // Every record the crate reads must be among ours, or one could go unchecked.
    if seen != archive.entries.len() || entries.len() == archive.entries.len() {
        return Err(IngestError::Corrupt {
            detail: "its central directory lists some names twice in a way devflow cannot read"
                .into(),
        });
    }
    archive.entries = entries;
    archive.indices = indices;
    Ok(())
}

/// `(central header offset, raw name)` of every record, in directory order.
fn central_directory<R: Read + Seek>(
    reader: &mut R,
    start: u64,
) -> io::Result<Vec<(u64, Vec<u8>)>> {
    reader.seek(SeekFrom::Start(start))?;
    let mut records = Vec::new();
    let mut offset = start;
    loop {
        let mut signature = [0u8; 4];
        if reader.read_exact(&mut signature).is_err()
            || u32::from_le_bytes(signature) != CENTRAL_HEADER_SIGNATURE
        {
            return Ok(records);
        }
        let mut fixed = [0u8; CENTRAL_HEADER_FIXED];
        reader.read_exact(&mut fixed)?;
        let field = |at: usize| u64::from(u16::from_le_bytes([fixed[at], fixed[at + 1]]));
        let (name_len, extra_len, comment_len) = (field(24), field(26), field(28));
        let mut name = vec![0u8; name_len as usize];
        reader.read_exact(&mut name)?;
        let skip = extra_len + comment_len;
        reader.seek(SeekFrom::Current(skip as i64))?;
        records.push((offset, name));
        offset += 4 + CENTRAL_HEADER_FIXED as u64 + name_len + skip;
    }
}

#[allow(deprecated)] // `to_u16` is the only way to name a method this build cannot read.
fn compression(method: CompressionMethod) -> Compression {
    match method {
        CompressionMethod::Stored => Compression::Stored,
        CompressionMethod::Deflated => Compression::Deflated,
        other => Compression::Other(other.to_u16()),
    }
}

/// A `zip` crate error as a short reason for a person.
pub(crate) fn describe(error: &ZipError) -> String {
    match error {
        ZipError::Io(error) if error.kind() == io::ErrorKind::UnexpectedEof => {
            "it ends too early, so it was probably cut short in transfer".to_string()
        }
        ZipError::InvalidArchive(reason)
            if reason.contains("EOCD") || reason.contains("end of central") =>
        {
            "its table of contents at the end is missing, so it was probably cut short in transfer"
                .to_string()
        }
        other => other.to_string(),
    }
}

/// What a file that is not a zip most likely is, from its first bytes.
fn sniff(head: &[u8]) -> Option<&'static str> {
    const KINDS: &[(&[u8], &str)] = &[
        (b"\x89PNG", "a PNG image"),
        (b"\xff\xd8\xff", "a JPEG image"),
        (b"GIF8", "a GIF image"),
        (b"%PDF", "a PDF document"),
        (b"\x1f\x8b", "a gzip file, such as a .tar.gz"),
        (b"BZh", "a bzip2 file"),
        (b"\xfd7zXZ\x00", "an xz file"),
        (b"\x28\xb5\x2f\xfd", "a Zstandard file"),
        (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
        (b"Rar!", "a RAR archive"),
    ];
    if head.is_empty() {
        return Some("an empty file");
    }
    KINDS
        .iter()
        .find(|(magic, _)| head.starts_with(magic))
        .map(|(_, kind)| *kind)
}
