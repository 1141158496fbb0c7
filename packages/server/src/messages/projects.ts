import { create } from "@bufbuild/protobuf";
import { ProjectSchema, ProjectState, type Project } from "@engine-cloud/api";
import type { ProjectRow } from "../store/projects.js";
import { optionalTimestamp as ts, protoEnumMap } from "./enum-map.js";

export const projectStates = protoEnumMap<ProjectRow["state"], ProjectState>({
  allowed: ProjectState.ALLOWED,
  denied: ProjectState.DENIED,
});

export function projectToProto(p: ProjectRow): Project {
  return create(ProjectSchema, {
    name: p.name,
    state: projectStates.toProto(p.state),
    createdAt: ts(p.created_at),
    updatedAt: ts(p.updated_at),
    updatedBy: p.updated_by,
  });
}
