// The opening and closing time of a voting, as the browser's local wall-clock time; the
// forms convert them to ISO with the browser's offset when they send them.

import { InputField } from "./Field";

export interface WindowValue {
  opensAt: string; // datetime-local values
  closesAt: string;
}

interface Props {
  value: WindowValue;
  onChange: (value: WindowValue) => void;
  errors: Record<string, string>;
}

const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;

export function WindowFields({ value, onChange, errors }: Props) {
  return (
    <fieldset className="window-fields">
      <legend>When (your time zone: {zone})</legend>
      <InputField
        label="Opens at"
        type="datetime-local"
        step={1}
        required
        value={value.opensAt}
        error={errors.opens_at}
        onValue={(opensAt) => onChange({ ...value, opensAt })}
      />
      <InputField
        label="Closes at"
        type="datetime-local"
        step={1}
        required
        value={value.closesAt}
        error={errors.closes_at}
        onValue={(closesAt) => onChange({ ...value, closesAt })}
      />
    </fieldset>
  );
}
