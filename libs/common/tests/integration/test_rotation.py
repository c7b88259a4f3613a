"""Key rotation re-encrypts every stored secret under the newest key; no plaintext is stored."""

from mailbridge.common.db.engine import create_engine, create_session_factory
from mailbridge.common.db.migrate import upgrade_async
from mailbridge.common.db.rotation import rotate_secrets
from mailbridge.common.db.tables import Group, MailAccount, MailServer, OAuthProvider
from mailbridge.common.secrets import SecretBox, generate_key
from sqlalchemy import select, text

PASSWORDS = [f"password-{i}-plaintext" for i in range(3)]
CLIENT_SECRET = "client-secret-plaintext"


async def test_rotation_moves_every_secret_to_the_newest_key(empty_database_url: str) -> None:
    await upgrade_async(empty_database_url)
    old, new = generate_key(), generate_key()
    engine = create_engine(empty_database_url)
    sessions = create_session_factory(engine)
    try:
        async with sessions() as session:
            old_box = SecretBox([old])
            group = Group(name="Sales")
            server = MailServer(
                name="s", smtp_host="smtp.example.com", smtp_encryption="auto",
                incoming_protocol="imap", incoming_host="imap.example.com",
            )  # fmt: skip
            session.add_all([group, server])
            await session.flush()
            session.add_all(
                MailAccount(
                    owner_group_id=group.id,
                    server_id=server.id,
                    login=f"l{i}",
                    address=f"a{i}@example.com",
                    password_encrypted=old_box.encrypt(password),
                )
                for i, password in enumerate(PASSWORDS)
            )
            session.add(
                OAuthProvider(
                    name="p",
                    server_type="generic_oidc",
                    client_secret_encrypted=old_box.encrypt(CLIENT_SECRET),
                )
            )
            await session.commit()
            dump = repr((await session.execute(text("SELECT * FROM mail_accounts"))).all())
            dump += repr((await session.execute(text("SELECT * FROM oauth_providers"))).all())
        assert not any(secret in dump for secret in [*PASSWORDS, CLIENT_SECRET])

        ring = SecretBox.from_ring(f"{new},{old}")
        assert await rotate_secrets(sessions, ring) == 4
        assert await rotate_secrets(sessions, ring) == 0
        newest_only = SecretBox([new])
        async with sessions() as session:
            tokens = list(await session.scalars(select(MailAccount.password_encrypted)))
            secret = await session.scalar(select(OAuthProvider.client_secret_encrypted))
        assert sorted(newest_only.decrypt(t) for t in tokens if t) == sorted(PASSWORDS)
        assert secret is not None
        assert newest_only.decrypt(secret) == CLIENT_SECRET
    finally:
        await engine.dispose()
