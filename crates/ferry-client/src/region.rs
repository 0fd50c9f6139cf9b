//! BaseSpace regions and their API servers.

/// A BaseSpace Sequence Hub region.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Region {
    /// United States (default), `api.basespace.illumina.com`.
    Use1,
    /// Europe (Frankfurt).
    Euc1,
    /// United Kingdom.
    Euw2,
    /// Canada.
    Cac1,
    /// Australia.
    Aps2,
    /// APS4.
    Aps4,
    /// China.
    Cnn1,
}

impl Region {
    /// Every region, USE1 first.
    pub const ALL: [Region; 7] = [
        Region::Use1,
        Region::Euc1,
        Region::Euw2,
        Region::Cac1,
        Region::Aps2,
        Region::Aps4,
        Region::Cnn1,
    ];

    /// Lowercase code (`use1`, `euc1`, ...).
    pub fn code(self) -> &'static str {
        match self {
            Region::Use1 => "use1",
            Region::Euc1 => "euc1",
            Region::Euw2 => "euw2",
            Region::Cac1 => "cac1",
            Region::Aps2 => "aps2",
            Region::Aps4 => "aps4",
            Region::Cnn1 => "cnn1",
        }
    }

    /// Human label.
    pub fn label(self) -> &'static str {
        match self {
            Region::Use1 => "United States",
            Region::Euc1 => "Europe (Frankfurt)",
            Region::Euw2 => "United Kingdom",
            Region::Cac1 => "Canada",
            Region::Aps2 => "Australia",
            Region::Aps4 => "APS4",
            Region::Cnn1 => "China",
        }
    }

    /// API server URL (no trailing slash).
    pub fn api_server(self) -> &'static str {
        match self {
            Region::Use1 => "https://api.basespace.illumina.com",
            Region::Euc1 => "https://api.euc1.sh.basespace.illumina.com",
            Region::Euw2 => "https://api.euw2.sh.basespace.illumina.com",
            Region::Cac1 => "https://api.cac1.sh.basespace.illumina.com",
            Region::Aps2 => "https://api.aps2.sh.basespace.illumina.com",
            Region::Aps4 => "https://api.aps4.sh.basespace.illumina.com",
            Region::Cnn1 => "https://api.cnn1.sh.basespace.illumina.com.cn",
        }
    }

    /// Parses a region code in any case (`euc1`, `EUC1`).
    pub fn from_code(code: &str) -> Option<Region> {
        let code = code.trim().to_ascii_lowercase();
        Region::ALL.into_iter().find(|region| region.code() == code)
    }
}

impl std::fmt::Display for Region {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.code().to_ascii_uppercase())
    }
}

/// The region whose API server `url` is, if it is one of Illumina's.
pub fn region_of_server(url: &str) -> Option<Region> {
    let host = url::Url::parse(url.trim()).ok()?.host_str()?.to_ascii_lowercase();
    Region::ALL.into_iter().find(|region| {
        url::Url::parse(region.api_server())
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
            == Some(host.clone())
    })
}

/// Resolves what a user typed for `--api-server`: a region code (`euc1`) or a URL. Trailing
/// slashes are removed.
pub fn resolve_api_server(text: &str) -> String {
    let text = text.trim();
    if let Some(region) = Region::from_code(text) {
        return region.api_server().to_string();
    }
    text.trim_end_matches('/').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_round_trip() {
        assert_eq!(Region::from_code("EUC1"), Some(Region::Euc1));
        assert_eq!(
            region_of_server("https://api.euc1.sh.basespace.illumina.com/"),
            Some(Region::Euc1)
        );
        assert_eq!(region_of_server("http://127.0.0.1:8080"), None);
        assert_eq!(
            resolve_api_server("cnn1"),
            "https://api.cnn1.sh.basespace.illumina.com.cn"
        );
        assert_eq!(resolve_api_server("http://x:1/"), "http://x:1");
        for region in Region::ALL {
            assert_eq!(region_of_server(region.api_server()), Some(region));
        }
    }
}
