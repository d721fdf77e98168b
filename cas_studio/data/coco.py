"""COCO export of an annotation project: one category, "region", and one RLE mask per region.

Regions are class-free, so every annotation has ``category_id`` 1 ("region"); a region's id in the
label map is kept as ``region_id``. Masks are run-length encoded by ``pycocotools`` (the format
Label Studio, CVAT and X-AnyLabeling read), so ``pycocotools.coco.COCO`` loads the file as it is.
"""

from __future__ import annotations

import numpy as np

CATEGORY = {"id": 1, "name": "region", "supercategory": "region"}


def coco_dataset(project) -> dict:
    """The annotated images of ``project`` as a COCO instance-segmentation dataset (a dict).

    Returns
    -------
    dict with ``images`` (id, file_name, width, height), ``annotations`` (id, image_id,
    category_id 1, region_id, segmentation as compressed RLE, area, bbox [x, y, w, h], iscrowd 0,
    confirmed: whether a person confirmed the region) and ``categories`` (the one "region").
    Unlabelled pixels (id 0) belong to no annotation. Frames of a video also carry ``video_id``
    and ``frame_id`` (0-based position in the sequence), and ``videos`` lists the sequences (id,
    name), as COCO-VID / TAO write them.
    """
    from pycocotools import mask as mask_utils

    frame_of, videos = {}, []
    for video_id, (name, frames) in enumerate(project.sequences().items(), start=1):
        videos.append({"id": video_id, "name": name})
        for k, frame in enumerate(frames):
            frame_of[frame.name] = (video_id, k)
    images, annotations = [], []
    for image_id, path in enumerate(project.annotated(), start=1):
        labels, side, _ = project.load_annotation(path)  # one snapshot: labels and confirmations together
        confirmed = set(side.get("confirmed", []))
        h, w = labels.shape
        images.append({"id": image_id, "file_name": f"images/{path.name}", "width": int(w), "height": int(h)})
        if path.name in frame_of:
            images[-1].update(video_id=frame_of[path.name][0], frame_id=frame_of[path.name][1])
        for region in np.unique(labels):
            if region == 0:
                continue
            rle = mask_utils.encode(np.asfortranarray(labels == region, dtype=np.uint8))
            annotations.append({
                "id": len(annotations) + 1, "image_id": image_id, "category_id": CATEGORY["id"],
                "region_id": int(region), "segmentation": {"size": [int(h), int(w)], "counts": rle["counts"].decode()},
                "area": float(mask_utils.area(rle)), "bbox": [float(v) for v in mask_utils.toBbox(rle)],
                "iscrowd": 0, "confirmed": bool(side.get("image_confirmed") or int(region) in confirmed),
            })
    return {"info": {"description": f"CAS Studio project {project.root.name}: class-free regions"},
            "images": images, "annotations": annotations, "categories": [CATEGORY],
            **({"videos": videos} if videos else {})}
