-- The local seed users (docs/local-stack.md, seed users). Fixed uuids and Cognito ids so that the files in events/
-- name real users; `make dev` replaces cognito_user_id with the ids its Cognito pool gives them.
-- Repeatable: a second run changes nothing.
INSERT INTO public.users (uuid, display_name, handle, email, cognito_user_id) VALUES
  ('8d1b9c3e-2f4a-4b6c-9d7e-0a1b2c3d4e01', 'Andrew Brown',  'andrewbrown', 'andrew@exampro.co',       '5f0e1c2d-8a7b-4c3d-9e8f-0a1b2c3d4e01'),
  ('8d1b9c3e-2f4a-4b6c-9d7e-0a1b2c3d4e02', 'Andrew Bayko',  'bayko',       'bayko@exampro.co',        '5f0e1c2d-8a7b-4c3d-9e8f-0a1b2c3d4e02'),
  ('8d1b9c3e-2f4a-4b6c-9d7e-0a1b2c3d4e03', 'Londo Mollari', 'londo',       'londo@babylon5.example',  '5f0e1c2d-8a7b-4c3d-9e8f-0a1b2c3d4e03')
ON CONFLICT DO NOTHING;
