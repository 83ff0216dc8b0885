SELECT uuid::text, handle, display_name, cognito_user_id
FROM public.users
WHERE uuid = ANY(%(uuids)s::uuid[])
