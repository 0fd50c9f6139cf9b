//! BaseSpace API client: profiles, regions, paging, retries, verified parallel transfers.
