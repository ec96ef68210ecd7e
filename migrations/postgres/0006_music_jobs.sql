-- Music jobs (/music) follow the same path as video jobs (quote, confirm, queue, poll, deliver,
-- resume after a restart) and share their table; `kind` says which a job is.
ALTER TABLE video_jobs ADD COLUMN kind text NOT NULL DEFAULT 'video';  -- video | music
