"""What a client may see and use of the engine beyond docker-py's models.

The run mode and what it isolates, the capabilities a container keeps and Docker's seccomp profile, the namespaces of a
process and ``nsenter`` into them, the bridge network, the union view of layers, the odds of
short IDs' collisions, layer tars, the base image, the store's durable write rule (for the course's
progress file).  The course's pictures and exercises and a few commands read these; importing this
module loads more than ``run`` needs, so those import it where they use it.
"""

from ..containers.unionfs import UnionView, changes
from ..images.bootstrap import bootstrap_busybox
from ..images.digest import collision_probability
from ..images.layer import apply_layer_tar
from ..runtime import durable, mode, network, seccomp
from ..runtime.mode import ISOLATES
from ..runtime.nsenter import NAMESPACES, namespaces_of, run_in as nsenter
from ..runtime.syscalls import CAPABILITIES, DEFAULT_CAPABILITIES

__all__ = ["UnionView", "changes", "bootstrap_busybox", "collision_probability", "apply_layer_tar", "mode",
           "network", "durable", "ISOLATES", "NAMESPACES", "namespaces_of", "nsenter", "CAPABILITIES", "DEFAULT_CAPABILITIES",
           "seccomp"]
