-- Indexes that serve each listing's filter and its default sort, ties broken by id, so that a page
-- is read from the index in order and never sorted from the whole table.
CREATE INDEX datasets_owner_created_id ON datasets (owner_id, created, id);
CREATE INDEX datasets_project_created_id ON datasets (project_id, created, id);
CREATE INDEX biosamples_project_id ON biosamples (project_id, id);
CREATE INDEX files_dataset_id ON files (dataset_id, status, id);
CREATE INDEX files_run_id ON files (run_id, status, id);
DROP INDEX datasets_owner;
DROP INDEX datasets_project;
