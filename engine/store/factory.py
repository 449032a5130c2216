"""What the two stores' infrastructure factories share.

eventsourcing's own factories each repeat the same recorder constructors:
read a recorder class's topic from the environment (or take the store's
own), build it on the store's datastore, create its tables unless
`CREATE_TABLE` says no. Here that is written once; a store names its
recorder classes and builds its datastore.
"""

from __future__ import annotations

from typing import Any, ClassVar, Generic, TypeVar

from eventsourcing.persistence import (
    ApplicationRecorder,
    InfrastructureFactory,
    ProcessRecorder,
    TrackingRecorder,
)
from eventsourcing.utils import resolve_topic, strtobool

__all__ = ["StoreFactory"]

TTrackingRecorder = TypeVar("TTrackingRecorder", bound=TrackingRecorder)


class StoreFactory(InfrastructureFactory[TTrackingRecorder], Generic[TTrackingRecorder]):
    """An infrastructure factory whose recorders all sit on one `datastore`."""

    CREATE_TABLE: ClassVar[str] = "CREATE_TABLE"
    application_recorder_class: ClassVar[type[ApplicationRecorder]]
    tracking_recorder_class: ClassVar[type[TrackingRecorder]]
    process_recorder_class: ClassVar[type[ProcessRecorder]]
    datastore: Any

    def _ready(self, recorder: Any) -> None:
        if strtobool(self.env.get(self.CREATE_TABLE) or "yes"):
            recorder.create_table()

    def _recorder(self, cls: type[Any]) -> Any:
        recorder = cls(self.datastore)
        self._ready(recorder)
        return recorder

    def _configured(self, topic_key: str, default: type[Any]) -> type[Any]:
        """The recorder class the environment names under `topic_key`, or `default`."""
        topic = self.env.get(topic_key)
        return resolve_topic(topic) if topic else default

    def application_recorder(self) -> ApplicationRecorder:
        cls = self._configured(self.APPLICATION_RECORDER_TOPIC, self.application_recorder_class)
        recorder: ApplicationRecorder = self._recorder(cls)
        return recorder

    def tracking_recorder(
        self, tracking_recorder_class: type[TTrackingRecorder] | None = None
    ) -> TTrackingRecorder:
        cls = tracking_recorder_class or self._configured(
            self.TRACKING_RECORDER_TOPIC, self.tracking_recorder_class
        )
        recorder: TTrackingRecorder = self._recorder(cls)
        return recorder

    def process_recorder(self) -> ProcessRecorder:
        cls = self._configured(self.PROCESS_RECORDER_TOPIC, self.process_recorder_class)
        recorder: ProcessRecorder = self._recorder(cls)
        return recorder
