"""The admin console (#16): server-rendered pages under /console, served by config-api wherever
it runs (`make run`, `mailbridge run`, the container). FastAPI + Jinja2, plain forms, no scripts.

How it works
- Sign-in with an API key (admin or user) → the `mb_console` cookie (session.py): the key and a
  CSRF token, encrypted with the installation's secret key; HttpOnly, SameSite=Strict, Secure
  over https. Every POST form carries `<input type="hidden" name="csrf" value="{{ csrf }}">`
  and its handler checks it (`pages.posted`) before anything else.
- Handlers call config-api's OWN API in-process with the session's key (`api_client.api_for`):
  every rule, validation and permission is the API's. Never read the database from here.
- Texts live in translations/en.json and de.json (one flat map per language; keys described in
  i18n.py); `t('key')` in templates. Field labels `field.<name>` and the manual's help
  `help.<name>` (a screen's own `field.<screen>.<name>` / `help.<screen>.<name>` wins).
- Forms are made from the API's OpenAPI schema of the request body (forms.py, form_page.py):
  field kinds from JSON schema types, choices from enums and from REFERENCES (screens.py) for
  id fields. Errors: a 422's `errors[].field` beside its field (`forms.apply_problem`), a 412
  is "someone else changed it" with a reload link (`stale=True`); the form is always shown
  again with the submitted values (`forms.submitted_values`).

How to add a screen
- A CRUD resource of the API (list/new/edit/delete): add a `ResourceScreen` to
  `screens.RESOURCE_SCREENS` (slug, API path, request schema name, list columns, requirement
  ids, what may block its deletion), a `NavItem` to `pages.NAV` (its `probe`: the API path whose
  GET decides at sign-in whether a key sees the screen), and its texts
  (`screen.<slug>.title|new|edit|delete`, labels, help) to both translation files. Reference
  fields (…_id) go into `screens.REFERENCES`.
- Any other page: a module with an `APIRouter()` whose routes live under `/console/<slug>`
  (paths starting with `pages.BASE`), each handler starting with
      session = session_of(request)
      if session is None: return to_sign_in(request)
  (a POST handler starts with `post = await posted(request)`, returning `post` when it is a
  Response, else using `post.session`, `post.form`, `post.etag`: the CSRF check is in there),
  talking to the API with `async with api_for(request, session.api_key) as api:`, answering
  `render(request, "<template>.html", {...}, session=session)` (templates extend base.html and
  fill `{% block main %}`); API refusals via
  `refused(request, session, status, problem_detail(answer))`. Include the router in
  `routes.install` and add a `NavItem`. Static files go into static/ (served at
  /console/static/).
- Browser tests: tests/console (whole system by `make run`, Chromium through Playwright; fixtures in
  its conftest.py, helpers in console_browser.py; README section "Admin console"); the plain
  functions' unit tests: services/config-api/tests/unit/test_console_*.py.
"""
