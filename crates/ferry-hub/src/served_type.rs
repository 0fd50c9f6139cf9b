//! The Content-Type the hub serves a file's bytes with: chosen from the file name among known
//! sequencing, table, document and image types, never from what a client declared at upload, and
//! never a type a browser renders as a page (`.html`, `.svg` and unknown names are
//! `application/octet-stream`). Content is also always served as an attachment with `nosniff`.

/// Types by the last extension of the name (lower case). The rest is `application/octet-stream`,
/// which covers BAM, CRAM, indexes (`.bai`, `.crai`, `.tbi`, `.csi`), BCL and web pages.
const TYPES: &[(&str, &str)] = &[
    // Compressed files, whatever is inside: `.fastq.gz`, `.vcf.gz`, bgzip's `.bgz`.
    ("gz", "application/gzip"),
    ("bgz", "application/gzip"),
    ("bz2", "application/x-bzip2"),
    ("zip", "application/zip"),
    // Sequencing text formats.
    ("fastq", "text/plain"),
    ("fq", "text/plain"),
    ("fasta", "text/plain"),
    ("fa", "text/plain"),
    ("fna", "text/plain"),
    ("sam", "text/plain"),
    ("vcf", "text/plain"),
    ("bed", "text/plain"),
    ("gff", "text/plain"),
    ("gff3", "text/plain"),
    ("gtf", "text/plain"),
    ("md5", "text/plain"),
    ("txt", "text/plain"),
    ("log", "text/plain"),
    // Tables and documents (sample sheets, run parameters, reports).
    ("csv", "text/csv"),
    ("tsv", "text/tab-separated-values"),
    ("json", "application/json"),
    ("xml", "application/xml"),
    ("pdf", "application/pdf"),
    ("png", "image/png"),
    ("jpg", "image/jpeg"),
    ("jpeg", "image/jpeg"),
];

/// The Content-Type to serve the bytes of a file called `name` with.
pub fn served_content_type(name: &str) -> &'static str {
    let extension = name.rsplit_once('.').map(|(_, ext)| ext.to_ascii_lowercase());
    extension
        .and_then(|ext| TYPES.iter().find(|(known, _)| *known == ext))
        .map_or("application/octet-stream", |(_, served)| served)
}

#[cfg(test)]
mod tests {
    use super::served_content_type;

    #[test]
    fn sequencing_files_get_their_types_and_pages_are_never_rendered() {
        for (name, expected) in [
            ("Sample_S1_L001_R1_001.fastq.gz", "application/gzip"),
            ("reads.FQ.GZ", "application/gzip"),
            ("reads.fastq", "text/plain"),
            ("calls.vcf.gz", "application/gzip"),
            ("calls.vcf.bgz", "application/gzip"),
            ("calls.vcf", "text/plain"),
            ("aligned.bam", "application/octet-stream"),
            ("aligned.cram", "application/octet-stream"),
            ("SampleSheet.csv", "text/csv"),
            ("metrics.tsv", "text/tab-separated-values"),
            ("RunInfo.xml", "application/xml"),
            ("stats.json", "application/json"),
            ("report.pdf", "application/pdf"),
            ("plot.PNG", "image/png"),
            ("run.log", "text/plain"),
            ("report.html", "application/octet-stream"),
            ("report.HTM", "application/octet-stream"),
            ("report.xhtml", "application/octet-stream"),
            ("logo.svg", "application/octet-stream"),
            ("script.js", "application/octet-stream"),
            ("README", "application/octet-stream"),
            ("archive.html.", "application/octet-stream"),
        ] {
            assert_eq!(served_content_type(name), expected, "{name}");
        }
    }
}
