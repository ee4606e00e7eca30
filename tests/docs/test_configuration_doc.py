"""docs/configuration.md lists every AGORA_* setting of every service, each with a description, as the code has
them."""

from agora_common.settings import ServiceSettings
from agora_devservers import config_table


def test_the_committed_configuration_doc_matches_the_code():
    assert config_table.DOC.read_text() == config_table.render(), "docs/configuration.md is out of date: make docs"


def test_every_setting_is_listed_with_a_description():
    classes = [("common", ServiceSettings, False), *((s, c, True) for s, c in config_table.settings_classes().items())]
    listed = set()
    for name, cls, own in classes:
        for variable, _default, text in config_table.rows(cls, own_only=own):
            assert text, f"{variable} ({name}) has no comment in its settings class"
            listed.add(variable)
    every = {f"AGORA_{f.upper()}" for _, cls, _ in classes for f in cls.model_fields} - {"AGORA_SERVICE_NAME"}
    assert listed == every
    assert {"AGORA_REDIS_URL", "AGORA_ARGON2_TIME_COST", "AGORA_INDEX_ALIAS", "AGORA_CREATE_TOPICS"} <= listed
