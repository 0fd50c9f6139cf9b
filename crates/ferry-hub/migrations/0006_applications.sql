-- Applications: the catalog `GET /v2/applications` serves. One row per application version
-- (BaseSpace gives every version its own Id; AppFamilySlug groups them). Ferry's built-in apps are
-- written at startup (crate::apps::seed); `disabled` is the admin's switch (`ferry hub app disable`).
CREATE TABLE applications (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    version_number TEXT NOT NULL,
    company_name TEXT NOT NULL,
    category TEXT NOT NULL,
    classifications TEXT NOT NULL,
    short_description TEXT NOT NULL,
    long_description TEXT NOT NULL,
    release_notes TEXT NOT NULL,
    homepage_uri TEXT NOT NULL,
    app_family_slug TEXT NOT NULL,
    app_version_slug TEXT NOT NULL,
    latest BIGINT NOT NULL,
    form TEXT NOT NULL,
    disabled BIGINT NOT NULL DEFAULT 0,
    created BIGINT NOT NULL,
    published BIGINT NOT NULL
);
CREATE INDEX applications_family ON applications (app_family_slug, id);

-- The application an appsession runs (uploads: BaseSpace CLI, 1375375), and its QC/delivery states.
ALTER TABLE appsessions ADD COLUMN application_id TEXT NOT NULL DEFAULT '1375375';
ALTER TABLE appsessions ADD COLUMN qc_status TEXT NOT NULL DEFAULT '';
ALTER TABLE appsessions ADD COLUMN delivery_status TEXT NOT NULL DEFAULT '';

-- What an appsession read and wrote: kind 'output.project', 'input.biosample' or 'input.run'
-- (the names of the `GET /v2/appsessions` filters), always in the session's own context.
CREATE TABLE appsession_links (
    appsession_id TEXT NOT NULL REFERENCES appsessions (id),
    owner_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    PRIMARY KEY (appsession_id, kind, resource_id)
);
CREATE INDEX appsession_links_resource ON appsession_links (owner_id, kind, resource_id);

-- Upload sessions wrote into the projects of their datasets.
INSERT INTO appsession_links (appsession_id, owner_id, kind, resource_id)
SELECT DISTINCT d.appsession_id, d.owner_id, 'output.project', d.project_id
FROM datasets d JOIN appsessions s ON s.id = d.appsession_id AND s.owner_id = d.owner_id
WHERE d.appsession_id IS NOT NULL;
