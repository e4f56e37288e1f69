"""Resolver strategies the pipeline needs and TFX does not ship."""

from typing import Dict, List, Optional

from tfx import types
from tfx.dsl.components.common import resolver


class LatestIfAnyStrategy(resolver.ResolverStrategy):
    """The newest artifact of each channel, or none at all.

    TFX's LatestArtifactStrategy fails its node when a channel is empty; on a home
    where no Tuner has run yet that is the normal case (the Trainer takes its
    defaults), not a failed run.
    """

    def resolve_artifacts(self, store, input_dict: Dict[str, List[types.Artifact]]
                          ) -> Optional[Dict[str, List[types.Artifact]]]:
        return {key: sorted(artifacts, key=lambda a: a.id)[-1:]
                for key, artifacts in input_dict.items()}
