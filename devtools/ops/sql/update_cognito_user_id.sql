-- Links a Cruddur user to their Cognito user (bin/db/update_cognito_user_ids): the user whose handle is the
-- Cognito user's preferred_username, compared as the unique index compares handles (case-insensitively).
UPDATE public.users
SET cognito_user_id = %(sub)s
WHERE lower(handle) = lower(%(handle)s)
RETURNING handle
