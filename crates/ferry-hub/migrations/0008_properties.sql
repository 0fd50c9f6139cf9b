-- Properties of projects, biosamples, datasets, runs and app sessions (`/v2/{kind}/{id}/properties`):
-- named values (`Namespace.name`), a type (`string`, `string[]`, …) and the values as a JSON array.
-- Launch options are the `Input.*` properties of their app session.
CREATE TABLE resource_properties (
    owner_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    name TEXT NOT NULL,
    property_type TEXT NOT NULL,
    description TEXT NOT NULL,
    items TEXT NOT NULL,
    modified_by TEXT NOT NULL,
    modified BIGINT NOT NULL,
    PRIMARY KEY (kind, resource_id, name)
);

INSERT INTO resource_properties (owner_id, kind, resource_id, name, property_type, description, items, modified_by, modified)
SELECT s.owner_id, 'appsessions', p.appsession_id, p.name, p.property_type, '', p.items, s.created_by, s.created
FROM appsession_properties p JOIN appsessions s ON s.id = p.appsession_id;

DROP TABLE appsession_properties;
