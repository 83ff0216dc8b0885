-- Cruddur users, as the messaging functions read them. Re-runnable: drops nothing, creates what is missing.
CREATE TABLE IF NOT EXISTS public.users (
  uuid            UUID        PRIMARY KEY DEFAULT gen_random_uuid(),
  display_name    TEXT        NOT NULL,
  handle          TEXT        NOT NULL,
  email           TEXT        NOT NULL,
  cognito_user_id TEXT,
  created_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Handles are unique whatever their case, so @Bayko and @bayko are the same person.
CREATE UNIQUE INDEX IF NOT EXISTS users_handle_key ON public.users (lower(handle));
-- Each Cognito user maps to at most one Cruddur user; users not yet signed up have none.
CREATE UNIQUE INDEX IF NOT EXISTS users_cognito_user_id_key ON public.users (cognito_user_id)
  WHERE cognito_user_id IS NOT NULL;
