SELECT uuid::text, handle, display_name, cognito_user_id
FROM public.users
WHERE cognito_user_id = %(cognito_user_id)s
