"""Writes an OCI image-layout tarball that `ctr image import` accepts: one
uncompressed layer holding the given files, an image config with the entrypoint,
and an index naming the image (`io.containerd.image.name`)."""

import hashlib
import io
import json
import tarfile


def _blob(tar, data):
    digest = hashlib.sha256(data).hexdigest()
    info = tarfile.TarInfo(f"blobs/sha256/{digest}")
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))
    return f"sha256:{digest}", len(data)


def write_image(out_path, name, files, entrypoint, env=()):
    """files: {path_in_rootfs: (bytes, mode)}; entrypoint: list of args."""
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w", format=tarfile.PAX_FORMAT) as lt:
        dirs = set()
        for path in sorted(files):
            parts = path.strip("/").split("/")[:-1]
            for i in range(1, len(parts) + 1):
                d = "/".join(parts[:i])
                if d not in dirs:
                    dirs.add(d)
                    info = tarfile.TarInfo(d)
                    info.type = tarfile.DIRTYPE
                    info.mode = 0o755
                    lt.addfile(info)
            data, mode = files[path]
            info = tarfile.TarInfo(path.strip("/"))
            info.size = len(data)
            info.mode = mode
            lt.addfile(info, io.BytesIO(data))
    layer = layer.getvalue()
    with tarfile.open(out_path, mode="w") as tar:
        layer_digest, layer_size = _blob(tar, layer)
        config = json.dumps({
            "architecture": "amd64",
            "os": "linux",
            "config": {"Entrypoint": list(entrypoint), "Env": list(env), "WorkingDir": "/"},
            "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
        }).encode()
        config_digest, config_size = _blob(tar, config)
        manifest = json.dumps({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": config_digest, "size": config_size},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                        "digest": layer_digest, "size": layer_size}],
        }).encode()
        manifest_digest, manifest_size = _blob(tar, manifest)
        index = json.dumps({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "digest": manifest_digest, "size": manifest_size,
                           "annotations": {"io.containerd.image.name": name,
                                           "org.opencontainers.image.ref.name": "latest"}}],
        }).encode()
        for fname, data in (("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'), ("index.json", index)):
            info = tarfile.TarInfo(fname)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return len(layer) + len(config) + len(manifest)
